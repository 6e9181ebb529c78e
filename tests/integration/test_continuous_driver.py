"""The low-latency default: continuous ingest that aggregates each micro-batch, one JVM for
the whole life of the driver. Its rows must be exactly the oracle's, with no aggregate run."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .conftest import ROOT, eventually
from .pipeline import Pipeline
from .test_tracking_pipeline import assert_matches_oracle, factory


def test_continuous_ingest_keeps_mysql_exact_while_events_arrive(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    env = {
        **os.environ,
        **pipeline.env,
        "TIDEMARK_INGEST_TRIGGER": "continuous",
        "TIDEMARK_INGEST_INTERVAL_SECONDS": "2",
        "TIDEMARK_INGEST_AGGREGATES": "true",
        "TIDEMARK_SPARK_UI_PORT": "14041",
        "TIDEMARK_INGEST_ALIVE_FILE": str(tmp_path / "alive"),
    }

    def probe() -> subprocess.CompletedProcess[str]:
        """The Deployment's liveness probe, as the kubelet runs it."""
        return subprocess.run(
            [sys.executable, "-m", "jobs.alive"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )

    assert probe().returncode == 1  # no heartbeat yet
    driver = subprocess.Popen(
        [sys.executable, "-m", "jobs", "ingest"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for seed in (31, 32, 33):
            # Three waves, each landing while the driver runs: each must converge exactly.
            wave = list(factory(seed).stream(300, datetime.now(timezone.utc), spread=timedelta(minutes=5)))
            pipeline.send(wave)

            def caught_up() -> bool:
                if driver.poll() is not None:
                    raise AssertionError(f"the driver stopped: {driver.stderr.read()[-3000:] if driver.stderr else ''}")
                try:
                    assert_matches_oracle(pipeline)
                except AssertionError:
                    return False
                return bool(pipeline.sql("SELECT COUNT(*) FROM dirty_buckets")[0][0] == 0)

            eventually(caught_up, 180, f"MySQL to match the oracle after wave {seed}", interval_s=2)
            assert probe().returncode == 0, "a driver making progress is alive"
    finally:
        driver.terminate()
        driver.wait(timeout=60)
