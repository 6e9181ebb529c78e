"""A job run by hand finds the connector jars `make stack-up` cached, or says how to get them."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.settings import JobSettings
from jobs.spark import connector_jars


def test_should_use_the_cached_jars_without_any_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEMARK_CACHE_DIR", str(tmp_path))
    folder = tmp_path / "jars" / "spark-1234abcd"
    folder.mkdir(parents=True)
    for name in ("spark-sql-kafka-0-10_2.12-3.5.7.jar", "spark-cassandra-connector_2.12-3.5.1.jar"):
        (folder / name).touch()
    assert [Path(p).name for p in connector_jars(JobSettings())] == [
        "spark-cassandra-connector_2.12-3.5.1.jar",
        "spark-sql-kafka-0-10_2.12-3.5.7.jar",
    ]


def test_should_name_the_setting_when_no_jars_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEMARK_CACHE_DIR", str(tmp_path))
    with pytest.raises(SystemExit, match="TIDEMARK_SPARK_JARS_DIR") as stopped:
        connector_jars(JobSettings())
    assert "make stack-up" in str(stopped.value)


def test_should_prefer_the_setting(tmp_path: Path) -> None:
    (tmp_path / "a.jar").touch()
    assert connector_jars(JobSettings(spark_jars_dir=str(tmp_path))) == [str(tmp_path / "a.jar")]
