"""`python -m jobs.alive`: the continuous ingest's liveness probe. Exit 0 while the driver's
heartbeat file is younger than TIDEMARK_INGEST_STALL_SECONDS, 1 otherwise.

The driver touches the file each interval while every query has made progress (a batch, or
Spark's idle report while no data comes) within that time. A query hung in a batch, or a
driver that stopped beating, lets the file age: the kubelet restarts the pod, and the query
resumes from its checkpoint.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from jobs.settings import load


def stalled(progress: dict[str, Any] | None, started: float, now: float, stall_seconds: int) -> bool:
    """Whether a query has gone `stall_seconds` without progress (its last progress report, or
    the driver's start while it has none)."""
    last = started
    if progress and progress.get("timestamp"):
        last = max(last, datetime.fromisoformat(progress["timestamp"].replace("Z", "+00:00")).timestamp())
    return now - last > stall_seconds


def fresh(path: Path, now: float, stall_seconds: int) -> bool:
    try:
        return now - path.stat().st_mtime <= stall_seconds
    except OSError:
        return False


def main() -> int:
    settings = load()
    if not settings.ingest_alive_file:
        print("TIDEMARK_INGEST_ALIVE_FILE is not set: nothing to check", file=sys.stderr)
        return 1
    path = Path(settings.ingest_alive_file)
    if fresh(path, time.time(), settings.ingest_stall_seconds):
        return 0
    print(f"{path} is older than {settings.ingest_stall_seconds}s: ingest is stuck", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
