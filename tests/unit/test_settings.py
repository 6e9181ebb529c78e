from __future__ import annotations

from pathlib import Path

import pytest

from jobs.settings import JobSettings, from_variables, load
from producer.settings import load as load_producer
from wire import env


def test_should_stop_at_start_naming_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEMARK_REPORT_TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(SystemExit) as stopped:
        load()
    assert "TIDEMARK_REPORT_TIMEZONE" in str(stopped.value)
    assert "unknown time zone" in str(stopped.value)


def test_should_name_an_ill_typed_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEMARK_SHARDS", "many")
    with pytest.raises(SystemExit) as stopped:
        load()
    assert "TIDEMARK_SHARDS" in str(stopped.value)


def test_should_name_a_bad_per_stream_setting_by_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEMARK_USERLOGS_RETENTION_DAYS", "-1")
    monkeypatch.setenv("TIDEMARK_ADS_ENABLED", "maybe")
    with pytest.raises(SystemExit) as stopped:
        load()
    lines = str(stopped.value).splitlines()
    assert "  TIDEMARK_USERLOGS_RETENTION_DAYS: Input should be greater than or equal to 0 (got '-1')" in lines
    assert any(line.startswith("  TIDEMARK_ADS_ENABLED: Input should be a valid boolean") for line in lines), lines


def test_should_read_per_stream_settings_from_the_environment_under_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEMARK_USERLOGS_AUTH_TOPIC", "auth.a,auth.b")
    monkeypatch.setenv("TIDEMARK_ORDERS_RETENTION_DAYS", "30")
    settings = JobSettings(orders_retention_days=7)
    assert settings.topics["userlogs_auth"] == "auth.a,auth.b"
    assert settings.families["orders"].retention_days == 7, "an argument wins over the environment"
    assert settings.families["tracking"].retention_days is None, "unset: the global TIDEMARK_RAW_TTL_DAYS"
    assert settings.topics["ads"] == "ad_topic"


def test_should_keep_passwords_out_of_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEMARK_MYSQL_PASSWORD", "s3cret")
    settings = JobSettings()
    assert "s3cret" not in repr(settings)
    assert settings.mysql_password.get_secret_value() == "s3cret"


def test_should_reject_producer_rates_that_exceed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEMARK_PRODUCER_ED_ONLY_RATE", "0.7")
    monkeypatch.setenv("TIDEMARK_PRODUCER_UNATTRIBUTED_RATE", "0.6")
    with pytest.raises(SystemExit) as stopped:
        load_producer()
    assert "TIDEMARK_PRODUCER_ED_ONLY_RATE" in str(stopped.value)


def test_should_read_per_stream_settings_in_any_case_as_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("tidemark_ads_topic", "ads.lower")
    assert JobSettings().topics["ads"] == "ads.lower"


def test_should_keep_per_stream_settings_a_copy_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEMARK_ORDERS_TOPIC", "from.env")
    first = JobSettings(orders_topic="given")
    again = JobSettings(**first.model_dump())
    assert again.topics["orders"] == "given"
    assert again.families == first.families


def test_should_name_a_setting_its_source_cannot_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEMARK_TOPICS", "not json")
    with pytest.raises(SystemExit, match=r"invalid settings: .*topics"):
        load()


def test_should_read_each_producer_topic_from_its_variable_with_no_field_per_part(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One declaration: the parts in wire.formats.TOPICS are the producer's topic settings, each
    # TIDEMARK_<PART>_TOPIC as the jobs read it.
    from producer.settings import ProducerSettings
    from wire.formats import TOPICS

    monkeypatch.setenv("TIDEMARK_USERLOGS_AUTH_TOPIC", "auth.here")
    assert ProducerSettings().topics == {**TOPICS, "userlogs_auth": "auth.here"}
    assert not [name for name in ProducerSettings.model_fields if name.endswith("_topic")]


def test_should_read_a_secret_setting_from_its_file_and_let_the_variable_win(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The chart mounts each Secret as a file named as its variable (wire/env.py).
    monkeypatch.setattr(env, "SECRETS_DIR", tmp_path)
    (tmp_path / "TIDEMARK_KAFKA_PASSWORD").write_text("from-the-file")
    (tmp_path / "TIDEMARK_MYSQL_PASSWORD").write_text("mysql-from-the-file")
    monkeypatch.delenv("TIDEMARK_KAFKA_PASSWORD", raising=False)
    monkeypatch.setenv("TIDEMARK_MYSQL_PASSWORD", "from-the-environment")
    jobs = load()
    assert jobs.kafka_password.get_secret_value() == "from-the-file"
    assert jobs.mysql_password.get_secret_value() == "from-the-environment"
    assert load_producer().kafka_password.get_secret_value() == "from-the-file"


def test_should_take_variables_handed_over_as_a_mapping_under_overrides() -> None:
    settings = from_variables(
        {"TIDEMARK_MYSQL_DATABASE": "handed", "TIDEMARK_SHARDS": "3", "TIDEMARK_ADS_TOPIC": "ads.handed"},
        shards=5,
    )
    assert (settings.mysql_database, settings.shards, settings.topics["ads"]) == ("handed", 5, "ads.handed")
