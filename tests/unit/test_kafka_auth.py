from __future__ import annotations

import pytest

from jobs.settings import JobSettings, load
from producer.settings import ProducerSettings
from wire.kafka_auth import kafka_python_options, librdkafka_options, spark_options


def test_should_log_in_as_the_component_user_by_default() -> None:
    assert librdkafka_options(ProducerSettings()) == {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "tidemark-producer",
        "sasl.password": "tidemark-producer",
    }
    assert kafka_python_options(JobSettings()) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "tidemark-jobs",
        "sasl_plain_password": "tidemark-jobs",
    }


def test_should_quote_the_login_for_javas_jaas_config() -> None:
    settings = JobSettings(kafka_username='a"b', kafka_password='p"w\\d')
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
