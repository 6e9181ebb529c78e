"""What the bench samples while the pipeline runs: freshness per stream and RSS per process."""

from __future__ import annotations

import os
import re
import resource
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jobs.streams import parts
from local import stack


def stat_fields(stat: Path) -> list[str]:
    """A /proc/<pid>/stat's fields after the command name (which may hold spaces): [0] is the
    state (field 3 of proc(5)), [1] the parent, [11] and [12] user and system CPU ticks."""
    return stat.read_text().rsplit(")", 1)[1].split()


def process_tree(root: int) -> set[int]:
    """A process and all its descendants (a job's Python and its Spark JVM)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat_fields(stat)[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier and p not in tree]
        tree.update(children)
        frontier = children
    return tree


def rss_mib(pids: set[int]) -> float:
    """The processes' memory, MiB: each one's proportional share of its resident pages (PSS), so
    pages two processes share count once. A child the JVM has just forked (to start a Spark
    Python worker) shares all of the JVM's pages until it execs: by RSS, the driver counted
    twice (2.1 GiB read as 3.7)."""
    total_kib = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            found = re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE)
            total_kib += int(found.group(1)) if found else resident_kib(pid)
        except OSError:  # gone, or not ours to read in detail: its RSS
            total_kib += resident_kib(pid)
    return total_kib / 1024


def resident_kib(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * resource.getpagesize() // 1024
    except (OSError, IndexError, ValueError):
        return 0  # the process is gone


def tree_rss_mib(root: int) -> float:
    return rss_mib(process_tree(root))


def cpu_seconds(pids: set[int]) -> float:
    """User and system CPU the processes have used so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = stat_fields(Path(f"/proc/{pid}/stat"))
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_by_process(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process tree, and of every local stack server."""
    return {name: cpu_seconds(process_tree(pid)) for name, pid in {**roots, **stack_pids()}.items()}


def cores_between(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """Cores each process used between two `cpu_by_process` readings `seconds` apart."""
    return {name: round((after[name] - before[name]) / seconds, 2) for name in before if name in after}


def tree_rss_by_command(root: int) -> dict[str, float]:
    """RSS of a process tree by command (`java`: Spark's JVM; `python`: the job and Spark's
    Python workers)."""
    by: dict[str, float] = {}
    for pid in process_tree(root):
        try:
            command = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        name = "java" if command == "java" else "python" if command.startswith("python") else command
        by[name] = by.get(name, 0.0) + rss_mib({pid})
    return by


def stack_pids() -> dict[str, int]:
    """The pid of each local stack server that is running, by name."""
    return {service.name: pid for service in stack.SERVICES if (pid := service.pid()) is not None}


def stack_rss_mib() -> dict[str, float]:
    """RSS of each local stack server that is running."""
    return {name: tree_rss_mib(pid) for name, pid in stack_pids().items()}


@dataclass
class Freshness:
    """Every `interval_s`, now minus the newest event time visible in MySQL, per stream."""

    database: str
    streams: list[str]
    interval_s: float = 1.0
    # (seconds since the probe started, stream, age in seconds or None before the first aggregate)
    samples: list[tuple[float, str, float | None]] = field(default_factory=list)
    peak_stack_rss_mib: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Freshness:
        self._thread = threading.Thread(target=self._run, name="freshness-probe", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        conn: Any = stack.mariadb_connect(stack.OWNER_USER, stack.OWNER_PASSWORD, self.database, autocommit=True)
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                tick = time.monotonic()
                cursor = conn.cursor()
                cursor.execute("SELECT stream, newest_event_time FROM watermarks")
                newest = {stream: at for stream, at in cursor.fetchall()}
                now = datetime.now(timezone.utc).replace(tzinfo=None)
                for stream in self.streams:
                    # A family is as fresh as its stalest part.
                    times = [newest.get(part) for part in parts([stream])]
                    ages = [(now - at).total_seconds() for at in times if at is not None]
                    age = max(ages) if ages and len(ages) == len(times) else None
                    self.samples.append((tick - started, stream, age))
                if int(tick - started) % 10 == 0:
                    for name, rss in stack_rss_mib().items():
                        self.peak_stack_rss_mib[name] = max(rss, self.peak_stack_rss_mib.get(name, 0.0))
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - tick)))
        finally:
            conn.close()

    def series(self, stream: str, after_s: float = 0.0) -> list[tuple[float, float]]:
        """(seconds after `after_s`, age) of one stream's samples since then."""
        return [(at - after_s, age) for at, s, age in self.samples if s == stream and at >= after_s and age is not None]


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]
