"""`python -m jobs dims` beside another dims run (a manual one and the CronJob's): the second
waits for the first's lock instead of failing on the checkpoint the first is writing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobs.stream_lock import lock_name
from local import topics

from .conftest import KAFKA, mysql_connect
from .pipeline import Pipeline


def test_a_second_dims_waits_for_the_first_and_then_runs(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    settings = pipeline.settings()
    topics.ensure(KAFKA, [settings.cdc_job_topic])
    other = mysql_connect()  # stands in for a dims run that holds the lock
    cursor = other.cursor()
    cursor.execute("SELECT GET_LOCK(%s, 0)", (lock_name(settings, settings.cdc_job_topic, job="dims"),))
    assert cursor.fetchone() == (1,)
    quick = {"TIDEMARK_AGGREGATE_LOCK_WAIT_SECONDS": "1"}
    waited = pipeline.run_main("jobs", "dims", extra_env=quick)
    assert waited.returncode == 0, waited.stderr[-3000:]
    assert f"another dims run is reading {settings.cdc_job_topic}" in waited.stderr
    assert " ERROR " not in waited.stderr
    other.close()  # the first run ends: its lock goes with its connection
    ran = pipeline.run_main("jobs", "dims", extra_env=quick)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "another dims run" not in ran.stderr and "dims done: read=0" in ran.stderr, ran.stderr[-3000:]
