"""How tidemark's processes reach MySQL and Cassandra over TLS: each verifies the server's
certificate against a CA file, host name included. On Kubernetes the file comes from the Secret
that holds the stores' CA; locally the stack's own CA (local/tls.py). An empty setting trusts
what the client library trusts by default, for a store that does not speak TLS.

Each client library spells TLS its own way; the translation lives here, once, as pure
functions over the settings."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings


def _must_be_a_file(variable: str, path: str) -> None:
    if path and not Path(path).is_file():
        raise ValueError(f"{variable}: {path} is not a file")


class MysqlTls(BaseSettings):
    """The CA (PEM) MySQL's certificate must chain to; "" connects as the server allows."""

    mysql_ca_file: str = ""

    @model_validator(mode="after")
    def _ca_is_a_file(self) -> MysqlTls:
        _must_be_a_file("TIDEMARK_MYSQL_CA_FILE", self.mysql_ca_file)
        return self


class CassandraTls(BaseSettings):
    """The CA (PEM) Cassandra's certificate must chain to; "" connects in clear. Spark's
    Cassandra connector reads no PEM: it takes the same CA as a PKCS12 truststore."""

    cassandra_ca_file: str = ""
    # The name every node's certificate is checked against, for nodes that share one
    # certificate (the chart's: its service's name); "" checks each node's own address.
    cassandra_tls_server_name: str = ""
    cassandra_truststore_file: str = ""
    cassandra_truststore_password: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _files_exist(self) -> CassandraTls:
        _must_be_a_file("TIDEMARK_CASSANDRA_CA_FILE", self.cassandra_ca_file)
        _must_be_a_file("TIDEMARK_CASSANDRA_TRUSTSTORE_FILE", self.cassandra_truststore_file)
        if self.cassandra_ca_file and not self.cassandra_truststore_file:
            raise ValueError(
                "TIDEMARK_CASSANDRA_CA_FILE is set: TIDEMARK_CASSANDRA_TRUSTSTORE_FILE (the same CA "
                "as a PKCS12 truststore, for Spark's Cassandra connector) is required too"
            )
        return self


def mysql_options(ca_file: str) -> dict[str, Any]:
    """Keyword arguments for mysql-connector-python's connect(): with a CA, TLS is required and
    the server's certificate and host name are checked."""
    if not ca_file:
        return {}
    return {"ssl_ca": ca_file, "ssl_verify_cert": True, "ssl_verify_identity": True}


def cassandra_ssl_context(ca_file: str) -> ssl.SSLContext | None:
    """The cassandra-driver's `ssl_context`: verifies the node's certificate and host name (the
    driver hands the address it dialled as the server name, unless `cassandra_ssl_options`)."""
    if not ca_file:
        return None
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def cassandra_ssl_options(server_name: str) -> dict[str, str] | None:
    """The cassandra-driver's `ssl_options`: the one name to check every node against."""
    return {"server_hostname": server_name} if server_name else None


CIPHER_SUITES = (
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
)


def cassandra_spark_options(tls: CassandraTls) -> dict[str, str]:
    """Spark's Cassandra connector: TLS with the truststore, or nothing for a store in clear.
    The connector checks the CA but not the host name (its driver's validation is switched
    off in its code); the Python clients check both."""
    if not tls.cassandra_ca_file:
        return {}
    return {
        "spark.cassandra.connection.ssl.enabled": "true",
        "spark.cassandra.connection.ssl.trustStore.path": tls.cassandra_truststore_file,
        "spark.cassandra.connection.ssl.trustStore.password": tls.cassandra_truststore_password.get_secret_value(),
        "spark.cassandra.connection.ssl.trustStore.type": "PKCS12",
        # The connector's default suites are RSA key exchange only; these are today's.
        "spark.cassandra.connection.ssl.enabledAlgorithms": ",".join(CIPHER_SUITES),
    }
