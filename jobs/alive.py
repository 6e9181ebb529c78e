"""`python -m jobs.alive`: the continuous ingest's startup, liveness and readiness probe. Exit 0
while the driver's heartbeat file is younger than TIDEMARK_INGEST_STALL_SECONDS, 1 otherwise,
saying which: no file yet (the driver is starting) or an old one (ingest is stuck).

The driver touches the file each interval while every query has made progress (a batch, or
Spark's idle report while no data comes) within that time. A query hung in a batch, or a
driver that stopped beating, lets the file age: the kubelet restarts the pod, and the query
resumes from its checkpoint. Ingest removes the file when it starts, so a restarted container
is not judged by the beats of the one before it.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from jobs.settings import ProbeSettings, load


def stalled(progress: dict[str, Any] | None, started: float, now: float, stall_seconds: int) -> bool:
    """Whether a query has gone `stall_seconds` without progress (its last progress report, or
    the driver's start while it has none)."""
    last = started
    if progress and progress.get("timestamp"):
        last = max(last, datetime.fromisoformat(progress["timestamp"].replace("Z", "+00:00")).timestamp())
    return now - last > stall_seconds


def last_beat(path: Path) -> float | None:
    """When the driver last touched its heartbeat; None while it has not since it started."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def verdict(path: Path, beat: float | None, now: float, stall_seconds: int) -> tuple[bool, str]:
    """Whether ingest is alive at `now`, given its last beat, and the probe's line saying why."""
    if beat is None:
        return False, f"{path} does not exist: ingest has not beaten yet (starting)"
    age = now - beat
    if age > stall_seconds:
        return False, f"{path} is {age:.0f}s old, older than {stall_seconds}s: ingest is stuck"
    return True, f"{path} is {age:.0f}s old: ingest is alive"


def main() -> int:
    settings = load(ProbeSettings)
    if not settings.ingest_alive_file:
        print("TIDEMARK_INGEST_ALIVE_FILE is not set: nothing to check", file=sys.stderr)
        return 1
    path = Path(settings.ingest_alive_file)
    ok, why = verdict(path, last_beat(path), time.time(), settings.ingest_stall_seconds)
    print(why, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
