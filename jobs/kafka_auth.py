"""How every tidemark process authenticates to Kafka: one identity per component, SCRAM.

The settings (TIDEMARK_KAFKA_*) are shared by the jobs and the producer; each client library
spells them its own way, so the translation lives here, once, as pure functions. On
Kubernetes each pod reads its user's password from the Secret Strimzi's User Operator makes
for its KafkaUser; locally the stack creates the same users (local/stack.py).
"""

from __future__ import annotations

from typing import Any, Literal

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
    """The Kafka identity of a process. PLAINTEXT ignores the user and password."""

    kafka_security_protocol: SecurityProtocol = "SASL_PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_username: str = ""
    kafka_password: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _sasl_needs_a_user(self) -> KafkaAccess:
        if _sasl(self) and not (self.kafka_username and self.kafka_password.get_secret_value()):
            raise ValueError(
                f"TIDEMARK_KAFKA_SECURITY_PROTOCOL is {self.kafka_security_protocol}: "
                "TIDEMARK_KAFKA_USERNAME and TIDEMARK_KAFKA_PASSWORD are required"
            )
        return self


def _sasl(access: KafkaAccess) -> bool:
    return access.kafka_security_protocol.startswith("SASL")


def _jaas_quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def kafka_python_options(access: KafkaAccess) -> dict[str, Any]:
    """Keyword arguments for kafka-python's KafkaConsumer, KafkaProducer and KafkaAdminClient."""
    options: dict[str, Any] = {"security_protocol": access.kafka_security_protocol}
    if _sasl(access):
        options |= {
            "sasl_mechanism": access.kafka_sasl_mechanism,
            "sasl_plain_username": access.kafka_username,
            "sasl_plain_password": access.kafka_password.get_secret_value(),
        }
    return options


def librdkafka_options(access: KafkaAccess) -> dict[str, str]:
    """Configuration keys for confluent-kafka's Producer and AdminClient."""
    options: dict[str, str] = {"security.protocol": access.kafka_security_protocol}
    if _sasl(access):
        options |= {
            "sasl.mechanisms": access.kafka_sasl_mechanism,
            "sasl.username": access.kafka_username,
            "sasl.password": access.kafka_password.get_secret_value(),
        }
    return options


def spark_options(access: KafkaAccess) -> dict[str, str]:
    """Options for Spark's Kafka source (`kafka.`-prefixed, passed to its Java clients)."""
    options: dict[str, str] = {"kafka.security.protocol": access.kafka_security_protocol}
    if _sasl(access):
        module = LOGIN_MODULES[access.kafka_sasl_mechanism]
        options |= {
            "kafka.sasl.mechanism": access.kafka_sasl_mechanism,
            "kafka.sasl.jaas.config": (
                f'{module} required username="{_jaas_quoted(access.kafka_username)}" '
                f'password="{_jaas_quoted(access.kafka_password.get_secret_value())}";'
            ),
        }
    return options
