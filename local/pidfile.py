"""Pid files that survive a reboot: each records the process's start time beside its pid.

After a reboot (or long enough), the pid in a stale file belongs to some other process; trusting
it made `stack up` wait for a server that was never started. A pid counts only while the process
with that pid started at the recorded moment (field 22 of /proc/<pid>/stat, in clock ticks since
boot), so a reused pid reads as "not running".
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def started(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = stat.rsplit(") ", 1)[-1].split()
    state, start_ticks = fields[0], fields[19]
    return None if state == "Z" else int(start_ticks)


def write(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid} {started(pid)}\n")


def read(path: Path) -> int | None:
    """The pid recorded in `path` if that very process still runs, else None."""
    try:
        pid_text, _, start_text = path.read_text().strip().partition(" ")
        pid = int(pid_text)
    except (FileNotFoundError, ValueError):
        return None
    now = started(pid)
    if now is None:
        return None
    if start_text:
        return pid if start_text == str(now) else None
    # A file from before start times were recorded holds the pid alone: the process it names
    # was started before the file was written, so a live process that started later is another.
    return pid if started_at(now) <= path.stat().st_mtime + 1 else None


def started_at(ticks: int) -> float:
    """A start time in clock ticks since boot as seconds since the epoch."""
    boot = next(
        int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
    )
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return started(pid) is not None


def stop(path: Path, grace_s: float = 45) -> bool:
    """Stops the process group `path` names: SIGTERM, SIGKILL after `grace_s`; the file goes.
    False when nothing was running."""
    pid = read(path)
    if pid is not None:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.3)
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return pid is not None
