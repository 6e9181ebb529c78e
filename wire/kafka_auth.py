"""How every tidemark process reaches Kafka: over TLS, verifying the brokers' certificates, and
logged in as one identity per component with SCRAM.

The settings (TIDEMARK_KAFKA_*) are shared by the jobs and the producer; each client library
spells them its own way, so the translation lives here, once, as pure functions. On
Kubernetes each pod reads its user's password from the Secret Strimzi's User Operator makes
for its KafkaUser, and the cluster's CA from the Secret Strimzi's Cluster Operator makes;
locally the stack creates the same users and a CA of its own (local/stack.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

# The JAAS login module Java clients (Spark's Kafka source) need for each mechanism.
LOGIN_MODULES = {
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
}


class KafkaAccess(BaseSettings):
    """The Kafka identity of a process. PLAINTEXT ignores the user and password; only SASL_SSL
    encrypts, and then the client verifies the broker's certificate and host name."""

    kafka_security_protocol: SecurityProtocol = "SASL_SSL"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_username: str = ""
    kafka_password: SecretStr = SecretStr("")
    # The CA certificates (PEM) the brokers' certificates must chain to: the file Strimzi's
    # `<cluster>-cluster-ca-cert` Secret holds as ca.crt. "" trusts the system's CAs instead.
    kafka_ca_file: str = ""

    @model_validator(mode="after")
    def _sasl_needs_a_user(self) -> KafkaAccess:
        if _sasl(self) and not (self.kafka_username and self.kafka_password.get_secret_value()):
            raise ValueError(
                f"TIDEMARK_KAFKA_SECURITY_PROTOCOL is {self.kafka_security_protocol}: "
                "TIDEMARK_KAFKA_USERNAME and TIDEMARK_KAFKA_PASSWORD are required"
            )
        if _tls(self) and self.kafka_ca_file and not Path(self.kafka_ca_file).is_file():
            raise ValueError(f"TIDEMARK_KAFKA_CA_FILE: {self.kafka_ca_file} is not a file")
        return self


def _sasl(access: KafkaAccess) -> bool:
    return access.kafka_security_protocol.startswith("SASL")


def _tls(access: KafkaAccess) -> bool:
    return access.kafka_security_protocol.endswith("SSL")


def _ca(access: KafkaAccess) -> str:
    """The CA file a TLS client verifies the brokers with, "" for none (or the system's)."""
    return access.kafka_ca_file if _tls(access) else ""


# (protocol, mechanism, username, password), as each Python client library names them.
KAFKA_PYTHON_KEYS = ("security_protocol", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password")
LIBRDKAFKA_KEYS = ("security.protocol", "sasl.mechanisms", "sasl.username", "sasl.password")


def _named(access: KafkaAccess, keys: tuple[str, str, str, str]) -> dict[str, str]:
    protocol, mechanism, username, password = keys
    options = {protocol: str(access.kafka_security_protocol)}
    if _sasl(access):
        options |= {
            mechanism: access.kafka_sasl_mechanism,
            username: access.kafka_username,
            password: access.kafka_password.get_secret_value(),
        }
    return options


def kafka_python_options(access: KafkaAccess) -> dict[str, str]:
    """Keyword arguments for kafka-python's KafkaConsumer, KafkaProducer and KafkaAdminClient
    (which check the broker's host name by default)."""
    ca = _ca(access)
    return {**_named(access, KAFKA_PYTHON_KEYS), **({"ssl_cafile": ca} if ca else {})}


def librdkafka_options(access: KafkaAccess) -> dict[str, str]:
    """Configuration keys for confluent-kafka's Producer and AdminClient (which check the
    broker's host name by default)."""
    ca = _ca(access)
    return {**_named(access, LIBRDKAFKA_KEYS), **({"ssl.ca.location": ca} if ca else {})}


def _jaas_quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def jaas_config(module: str, **fields: str) -> str:
    """A JAAS line for Java's Kafka clients and brokers, its values quoted."""
    quoted = " ".join(f'{key}="{_jaas_quoted(value)}"' for key, value in fields.items())
    return f"{module} required {quoted};"


def java_options(access: KafkaAccess) -> dict[str, str]:
    """Properties for Java's Kafka clients (Kafka Connect's worker, Debezium's schema history),
    which check the broker's host name by default; they read a PEM truststore as it is."""
    options = {"security.protocol": str(access.kafka_security_protocol)}
    if _ca(access):
        options |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": _ca(access)}
    if _sasl(access):
        options |= {
            "sasl.mechanism": access.kafka_sasl_mechanism,
            "sasl.jaas.config": jaas_config(
                LOGIN_MODULES[access.kafka_sasl_mechanism],
                username=access.kafka_username,
                password=access.kafka_password.get_secret_value(),
            ),
        }
    return options


def spark_options(access: KafkaAccess) -> dict[str, str]:
    """Options for Spark's Kafka source: the Java clients' properties, `kafka.`-prefixed."""
    return {f"kafka.{key}": value for key, value in java_options(access).items()}
