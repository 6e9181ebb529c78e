from __future__ import annotations

import pytest

from jobs.settings import JobSettings, load
from producer.settings import load as load_producer


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
