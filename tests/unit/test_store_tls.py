from __future__ import annotations

from pathlib import Path

import pytest

from jobs.settings import JobSettings, load
from producer.settings import ProducerSettings
from wire.store_tls import CIPHER_SUITES, cassandra_spark_options, cassandra_ssl_context, mysql_options


def test_should_verify_mysql_and_its_host_name_when_given_a_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert mysql_options(JobSettings(mysql_ca_file=str(ca)).mysql_ca_file) == {
        "ssl_ca": str(ca),
        "ssl_verify_cert": True,
        "ssl_verify_identity": True,
    }
    assert mysql_options(ProducerSettings().mysql_ca_file) == {}


def test_should_give_spark_the_truststore_and_python_the_ca(tmp_path: Path) -> None:
    ca, store = tmp_path / "ca.crt", tmp_path / "truststore.p12"
    store.write_bytes(b"")
    settings = JobSettings(
        cassandra_ca_file=str(ca_from_this_machine(ca)),
        cassandra_truststore_file=str(store),
        cassandra_truststore_password="public",
    )
    assert cassandra_spark_options(settings) == {
        "spark.cassandra.connection.ssl.enabled": "true",
        "spark.cassandra.connection.ssl.trustStore.path": str(store),
        "spark.cassandra.connection.ssl.trustStore.password": "public",
        "spark.cassandra.connection.ssl.trustStore.type": "PKCS12",
        "spark.cassandra.connection.ssl.enabledAlgorithms": ",".join(CIPHER_SUITES),
    }
    context = cassandra_ssl_context(settings.cassandra_ca_file)
    assert context is not None and context.check_hostname
    assert cassandra_spark_options(JobSettings()) == {}
    assert cassandra_ssl_context("") is None


def ca_from_this_machine(path: Path) -> Path:
    """A real CA certificate, so the SSL context loads it: any one the system trusts."""
    import certifi

    path.write_text(Path(certifi.where()).read_text())
    return path


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"TIDEMARK_MYSQL_CA_FILE": "/nowhere/ca.crt"}, r"TIDEMARK_MYSQL_CA_FILE: /nowhere/ca\.crt is not a file"),
        ({"TIDEMARK_CASSANDRA_CA_FILE": "/nowhere/ca.crt"}, r"TIDEMARK_CASSANDRA_CA_FILE: .* is not a file"),
        ({"TIDEMARK_CASSANDRA_CA_FILE": __file__}, r"TIDEMARK_CASSANDRA_TRUSTSTORE_FILE .* is required too"),
    ],
)
def test_should_stop_at_start_naming_the_tls_setting(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match=named):
        load()
