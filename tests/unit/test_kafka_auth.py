from __future__ import annotations

from pathlib import Path

import pytest

from jobs.settings import JobSettings, load
from producer.settings import ProducerSettings
from wire.kafka_auth import kafka_python_options, librdkafka_options, spark_options


def test_should_log_in_as_the_component_user_over_tls_by_default() -> None:
    assert librdkafka_options(ProducerSettings()) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "tidemark-producer",
        "sasl.password": "tidemark-producer",
    }
    assert kafka_python_options(JobSettings()) == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "tidemark-jobs",
        "sasl_plain_password": "tidemark-jobs",
    }


def test_should_quote_the_login_for_javas_jaas_config() -> None:
    settings = JobSettings(kafka_username='a"b', kafka_password='p"w\\d', kafka_security_protocol="SASL_PLAINTEXT")
    assert spark_options(settings) == {
        "kafka.security.protocol": "SASL_PLAINTEXT",
        "kafka.sasl.mechanism": "SCRAM-SHA-512",
        "kafka.sasl.jaas.config": (
            'org.apache.kafka.common.security.scram.ScramLoginModule required username="a\\"b" password="p\\"w\\\\d";'
        ),
    }


def test_should_send_no_login_in_plaintext() -> None:
    settings = JobSettings(kafka_security_protocol="PLAINTEXT", kafka_username="", kafka_password="")
    assert spark_options(settings) == {"kafka.security.protocol": "PLAINTEXT"}
    assert kafka_python_options(settings) == {"security_protocol": "PLAINTEXT"}


def test_should_stop_at_start_when_sasl_has_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEMARK_KAFKA_PASSWORD", "")
    with pytest.raises(SystemExit, match="TIDEMARK_KAFKA_USERNAME and TIDEMARK_KAFKA_PASSWORD are required"):
        load()


def test_should_verify_the_brokers_against_the_ca_file_in_every_client(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = JobSettings(kafka_ca_file=str(ca))
    assert kafka_python_options(settings)["ssl_cafile"] == str(ca)
    assert librdkafka_options(settings)["ssl.ca.location"] == str(ca)
    assert spark_options(settings)["kafka.ssl.truststore.location"] == str(ca)
    assert spark_options(settings)["kafka.ssl.truststore.type"] == "PEM"
    # Without TLS there is nothing to verify, and the file is not read.
    plain = JobSettings(kafka_ca_file=str(ca), kafka_security_protocol="SASL_PLAINTEXT")
    assert "ssl_cafile" not in kafka_python_options(plain)


def test_should_stop_at_start_when_the_ca_file_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIDEMARK_KAFKA_CA_FILE", str(tmp_path / "nowhere.crt"))
    with pytest.raises(SystemExit, match=r"TIDEMARK_KAFKA_CA_FILE: .*nowhere\.crt is not a file"):
        load()
