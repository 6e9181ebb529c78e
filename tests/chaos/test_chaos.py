"""The chaos tier, short: one broker kill and one job kill while every stream flows; the
numbers must still be exactly the oracles' (`make chaos` is the long run, every fault kind).

It kills the servers of the stack in the environment: run it on a stack no one else is using."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from local import stack

ROOT = Path(__file__).resolve().parents[2]
SEED = 7  # kafka first, then aggregate


def test_a_broker_kill_and_a_job_kill_lose_nothing_and_count_nothing_twice(tmp_path: Path) -> None:
    down = [
        s.name for s in stack.SERVICES if s.name in ("mariadb", "kafka", "cassandra", "connect") and s.pid() is None
    ]
    assert not down, f"the local stack is not up ({', '.join(down)}): run `make stack-up`"
    out = tmp_path / "chaos.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.chaos",
            "--seed",
            str(SEED),
            "--faults",
            "kafka,aggregate",
            "--seconds",
            "60",
            "--rate",
            "20",
            "--side-rate",
            "4",
            "--cron-seconds",
            "30",
            "--settle-seconds",
            "10",
            "--drain-seconds",
            "240",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.exists(), f"no verdict:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    result = json.loads(out.read_text())
    summary = done.stdout[-2500:]
    assert result["seed"] == SEED
    assert result["faults_injected"] == 2, summary
    assert result["faults_survived"] == result["faults_injected"], summary
    assert result["events_sent"] > 0 and set(result["streams"]) == {"tracking", "ads", "orders", "userlogs"}
    assert result["lost"] == 0, summary
    assert result["double_counted"] == 0, summary
    assert result["raw_rows"] == result["raw_expected"], summary
    assert result["mismatched_keys"] == 0, summary
    assert done.returncode == 0, summary
