"""The low-latency default: continuous ingest that aggregates each micro-batch, one JVM for
the whole life of the driver. Its rows must be exactly the oracle's, with no aggregate run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .conftest import ROOT, eventually
from .pipeline import Pipeline
from .test_tracking_pipeline import assert_matches_oracle, factory


def driver_env(pipeline: Pipeline, *, interval: int, ui_port: int, **extra: str) -> dict[str, str]:
    """A continuous driver over the pipeline that aggregates each micro-batch."""
    return {
        **os.environ,
        **pipeline.env,
        "TIDEMARK_INGEST_TRIGGER": "continuous",
        "TIDEMARK_INGEST_INTERVAL_SECONDS": str(interval),
        "TIDEMARK_INGEST_AGGREGATES": "true",
        "TIDEMARK_SPARK_UI_PORT": str(ui_port),
        **extra,
    }


def start_driver(env: dict[str, str]) -> subprocess.Popen[str]:
    """`python -m jobs ingest` in a session of its own (stop it with os.killpg), its log on stdout."""
    return subprocess.Popen(
        [sys.executable, "-m", "jobs", "ingest"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def collected(driver: subprocess.Popen[str]) -> list[str]:
    """The driver's log lines as it writes them, read by a thread of their own: a pipe nobody
    reads fills and stops the driver mid-write."""
    said: list[str] = []
    threading.Thread(target=lambda: said.extend(driver.stdout or []), daemon=True).start()
    return said


def test_continuous_ingest_keeps_mysql_exact_while_events_arrive(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    env = driver_env(pipeline, interval=2, ui_port=14041, TIDEMARK_INGEST_ALIVE_FILE=str(tmp_path / "alive"))

    def probe() -> subprocess.CompletedProcess[str]:
        """The Deployment's liveness probe, as the kubelet runs it."""
        return subprocess.run(
            [sys.executable, "-m", "jobs.alive"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )

    assert probe().returncode == 1  # no heartbeat yet
    driver = start_driver(env)
    said = collected(driver)
    try:
        for seed in (31, 32, 33):
            # Three waves, each landing while the driver runs: each must converge exactly.
            wave = list(factory(seed).stream(300, datetime.now(timezone.utc), spread=timedelta(minutes=5)))
            pipeline.send(wave)

            def caught_up() -> bool:
                if driver.poll() is not None:
                    raise AssertionError("the driver stopped: " + "".join(said[-80:]))
                try:
                    assert_matches_oracle(pipeline)
                except AssertionError:
                    return False
                return bool(pipeline.sql("SELECT COUNT(*) FROM dirty_buckets")[0][0] == 0)

            eventually(caught_up, 180, f"MySQL to match the oracle after wave {seed}", interval_s=2)
            assert probe().returncode == 0, "a driver making progress is alive"
    finally:
        os.killpg(driver.pid, signal.SIGTERM)
        driver.wait(timeout=60)


def test_a_stream_whose_batch_failed_starts_again_and_lands_every_event(spark: Any, tmp_path: Path) -> None:
    """A batch that cannot finish (here MySQL refuses its dirty marks: the table is gone) fails
    its query. The driver starts that query again from its checkpoint until the batch lands,
    instead of leaving the stream stopped while the process lives on."""
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    env = driver_env(pipeline, interval=1, ui_port=14042)
    driver = start_driver(env)
    said = collected(driver)

    def caught_up() -> bool:
        assert driver.poll() is None, "".join(said[-80:])
        try:
            assert_matches_oracle(pipeline)
        except AssertionError:
            return False
        return bool(pipeline.sql("SELECT COUNT(*) FROM dirty_buckets")[0][0] == 0)

    try:
        pipeline.send(list(factory(41).stream(200, datetime.now(timezone.utc), spread=timedelta(minutes=3))))
        eventually(caught_up, 240, "the first wave in MySQL", interval_s=2)
        pipeline.sql("RENAME TABLE dirty_buckets TO dirty_buckets_away")
        pipeline.send(list(factory(42).stream(200, datetime.now(timezone.utc), spread=timedelta(minutes=3))))
        eventually(lambda: any("its query failed" in line for line in said), 120, "the batch to fail")
        pipeline.sql("RENAME TABLE dirty_buckets_away TO dirty_buckets")
        eventually(caught_up, 240, "the second wave in MySQL after the restart", interval_s=2)
    finally:
        os.killpg(driver.pid, signal.SIGTERM)
        driver.wait(timeout=120)
    log = "".join(said)
    assert "tracking: query started again (1 restarts so far)" in log, log[-5000:]
