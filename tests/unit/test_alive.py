"""The continuous ingest's liveness: progress within the stall time, and the probe's verdict."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs import alive
from jobs.alive import last_beat, stalled, verdict

STARTED = 1_800_000_000.0


def test_should_count_a_query_without_progress_from_the_driver_start() -> None:
    assert not stalled(None, STARTED, STARTED + 600, 600)
    assert stalled(None, STARTED, STARTED + 601, 600)


def test_should_count_from_the_last_progress_report_idle_or_not() -> None:
    progress = {"timestamp": "2027-01-15T08:10:00.000Z", "numInputRows": 0}
    reported = 1_800_000_000 + 600.0  # 2027-01-15T08:10:00Z
    assert not stalled(progress, STARTED, reported + 300, 600)
    assert stalled(progress, STARTED, reported + 601, 600)


def test_should_read_no_beat_from_a_missing_heartbeat_and_its_time_from_one(tmp_path: Path) -> None:
    beat = tmp_path / "alive"
    assert last_beat(beat) is None
    beat.touch()
    os.utime(beat, (STARTED, STARTED))
    assert last_beat(beat) == STARTED


def test_should_say_starting_while_the_driver_has_not_beaten() -> None:
    ok, why = verdict(Path("/tmp/tidemark/alive"), None, STARTED, 600)
    assert not ok
    assert why == "/tmp/tidemark/alive does not exist: ingest has not beaten yet (starting)"


def test_should_pass_only_while_the_heartbeat_is_young() -> None:
    assert verdict(Path("alive"), STARTED, STARTED + 600, 600) == (True, "alive is 600s old: ingest is alive")
    assert verdict(Path("alive"), STARTED, STARTED + 601, 600) == (
        False,
        "alive is 601s old, older than 600s: ingest is stuck",
    )


@pytest.mark.parametrize(
    ("age", "status", "said"),
    [
        (None, 1, "ingest has not beaten yet (starting)"),  # the driver is still starting
        (601, 1, "ingest is stuck"),
        (5, 0, "ingest is alive"),
    ],
)
def test_should_exit_with_the_verdict_and_say_it(
    age: int | None,
    status: int,
    said: str,
    *,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    beat = tmp_path / "alive"
    if age is not None:
        beat.touch()
        os.utime(beat, (time.time() - age, time.time() - age))
    monkeypatch.setenv("TIDEMARK_INGEST_ALIVE_FILE", str(beat))
    monkeypatch.setenv("TIDEMARK_INGEST_STALL_SECONDS", "600")
    assert alive.main() == status
    out = capsys.readouterr()
    assert said in (out.err if status else out.out)
    assert "stuck" not in out.err or age == 601


def test_should_load_neither_spark_nor_the_streams_to_probe(tmp_path: Path) -> None:
    # The kubelet runs the probe every few seconds in the driver's container: importing the
    # stream registry (and with it pyspark) took it from 35 to 63 MB and 0.2 to 0.5 s.
    beat = tmp_path / "alive"
    beat.touch()
    script = "\n".join(
        [
            "import runpy, sys",
            "try:",
            "    runpy.run_module('jobs.alive', run_name='__main__')",
            "except SystemExit as e:",
            "    loaded = [m for m in sys.modules if m.split('.')[0] == 'pyspark' or m == 'jobs.streams']",
            "    print(e.code, sorted(loaded))",
        ]
    )
    env = {**os.environ, "TIDEMARK_INGEST_ALIVE_FILE": str(beat)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "0 []", done.stderr
