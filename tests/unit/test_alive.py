"""The continuous ingest's liveness: progress within the stall time, and the probe's verdict."""

from __future__ import annotations

import os
from pathlib import Path

from jobs.alive import fresh, stalled

STARTED = 1_800_000_000.0


def test_should_count_a_query_without_progress_from_the_driver_start() -> None:
    assert not stalled(None, STARTED, STARTED + 600, 600)
    assert stalled(None, STARTED, STARTED + 601, 600)


def test_should_count_from_the_last_progress_report_idle_or_not() -> None:
    progress = {"timestamp": "2027-01-15T08:10:00.000Z", "numInputRows": 0}
    reported = 1_800_000_000 + 600.0  # 2027-01-15T08:10:00Z
    assert not stalled(progress, STARTED, reported + 300, 600)
    assert stalled(progress, STARTED, reported + 601, 600)


def test_should_pass_the_probe_only_while_the_heartbeat_is_young(tmp_path: Path) -> None:
    beat = tmp_path / "alive"
    assert not fresh(beat, STARTED, 600)  # never touched: the driver never beat
    beat.touch()
    os.utime(beat, (STARTED, STARTED))
    assert fresh(beat, STARTED + 600, 600)
    assert not fresh(beat, STARTED + 601, 600)
