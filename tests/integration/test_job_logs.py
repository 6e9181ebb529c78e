"""A job's log answers "what did this run do": one line per stage with counts and timings, a
summary line, and none of Spark's own noise unless asked for."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .pipeline import Pipeline
from .test_tracking_edges import PLAIN
from .test_tracking_pipeline import factory

SPARK_NOISE = (
    "NativeCodeLoader",
    "SparkContext",
    "Using Spark's default log4j profile",
    "Setting default log level",
    " WARN ",
    "mysql.connector",
    "INFO kafka.",
)


def test_a_job_logs_its_stages_and_not_sparks(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    pipeline.send(list(factory(95, PLAIN).stream(300, datetime.now(timezone.utc), spread=timedelta(minutes=3))))
    ingest = pipeline.run_main("jobs", "ingest")
    aggregate = pipeline.run_main("jobs", "aggregate")
    for done in (ingest, aggregate):
        assert done.returncode == 0, done.stderr[-3000:]
        noise = [line for line in done.stderr.splitlines() if any(n in line for n in SPARK_NOISE)]
        assert not noise, noise[:5]
    assert "tracking batch 0: 300 raw, 0 rejected" in ingest.stderr
    assert "ingest done: read=300" in ingest.stderr
    assert "tracking chunk: " in aggregate.stderr and "raw rows" in aggregate.stderr
    assert "aggregate done: read=300" in aggregate.stderr


def test_sparks_own_log_is_one_setting_away(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    done = pipeline.run_main("jobs", "aggregate", extra_env={"TIDEMARK_SPARK_LOG_LEVEL": "INFO"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SparkContext" in done.stderr
