"""The chaos run's faults: which kinds there are, when each lands (from the seed), how it is
injected, and whether the pipeline got over it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from local.chaos_jobs import ROOT, Jobs, kill_offset
from local.chaos_verdict import RunStores

# Servers killed with SIGKILL and started again as the stack would.
SERVERS = ("kafka", "cassandra", "mariadb", "connect", "registry")
# Gray failures: a server frozen (SIGSTOP) for 30-60 s, then let go (SIGCONT): its sockets stay
# open and nothing answers, which clients see as timeouts rather than refusals.
PAUSES = ("pause-kafka", "pause-cassandra", "pause-mariadb")
JOBS = ("ingest", "aggregate", "dims")
# The MySQL connection holding a running aggregate's lock, killed (a network cut): the run
# must notice and stop without committing, and the next run must store its buckets.
LOCK = "lock"
FAULTS = (*SERVERS, *PAUSES, *JOBS, LOCK)
PAUSE_SECONDS = (30.0, 60.0)
SLOT_SECONDS = 65.0  # of the chaos phase, per fault


@dataclass
class Fault:
    kind: str
    at: float  # seconds into the chaos phase, from the seed
    offset: float  # a job: seconds into a run before the kill, from the seed
    injected: float | None = None
    recovered: float | None = None  # a server: up again
    note: str = ""
    survived: bool = False


def schedule(kinds: list[str], seconds: float, seed: int) -> list[Fault]:
    """Each fault in its own slot of the chaos phase, at a moment the seed picks."""
    rng = random.Random(seed)
    order = list(kinds)
    rng.shuffle(order)
    slot = seconds / max(len(order), 1)
    return [
        Fault(kind, at=slot * i + rng.uniform(0.15, 0.75) * slot, offset=rng.uniform(3, 20))
        for i, kind in enumerate(order)
    ]


class Injector:
    """Lands each fault on the run's stack and jobs; a server killed or paused comes back on a
    thread of its own (`busy` until it did)."""

    def __init__(self, jobs: Jobs, stores: RunStores, logs: Path, say: Callable[[str], None]) -> None:
        self.jobs = jobs
        self.stores = stores
        self.logs = logs
        self.say = say
        self.restarting: dict[str, threading.Thread] = {}

    def busy(self) -> bool:
        return any(t.is_alive() for t in self.restarting.values())

    def wait(self) -> None:
        for thread in self.restarting.values():
            thread.join()

    def inject(self, fault: Fault, now: float) -> bool:
        """Injects the fault if its moment came; False while a job of its kind is not far enough in."""
        if fault.kind in PAUSES:
            return self.pause(fault, now)
        if fault.kind == LOCK:
            return self.cut_lock(fault, now)
        if fault.kind in SERVERS:
            return self.kill_server(fault, now)
        job = self.jobs.running(fault.kind)
        offset = kill_offset(fault.offset, self.jobs.run_lengths(fault.kind))
        if job is None or now - job.started < offset:
            return False
        self.jobs.kill(job)
        fault.injected = fault.recovered = now
        self.say(f"fault: kill -9 {fault.kind} {offset:.0f}s into its run (pid {job.proc.pid})")
        return True

    def kill_server(self, fault: Fault, now: float) -> bool:
        from local import stack, supervisor

        service = next(s for s in stack.SERVICES if s.name == fault.kind)
        pid = service.pid()
        if pid is None:
            fault.note = "was not running"
            return False
        os.killpg(pid, signal.SIGKILL)
        fault.injected = now
        self.say(f"fault: kill -9 {fault.kind} (pid {pid})")

        def restart() -> None:
            # The kill lands: the process is gone, and so is its port (a JVM's other threads
            # still hold its sockets a moment after its main thread became a zombie).
            deadline = time.monotonic() + 60
            while (service.pid() is not None or supervisor.port_open(service.port)) and time.monotonic() < deadline:
                time.sleep(0.2)
            with (self.logs / "stack.log").open("ab") as out:
                rc = subprocess.run(
                    [sys.executable, str(ROOT / "local" / "stack.py"), "up", fault.kind],
                    cwd=ROOT,
                    stdout=out,
                    stderr=out,
                ).returncode
            fault.recovered = time.monotonic() if rc == 0 else None
            self.say(f"{fault.kind}: `stack.py up {fault.kind}` exited {rc}")

        self._background(fault.kind, restart)
        return True

    def pause(self, fault: Fault, now: float) -> bool:
        """SIGSTOP of a server's process group for 30-60 s (from the seed), then SIGCONT."""
        from local import stack

        name = fault.kind.removeprefix("pause-")
        service = next(s for s in stack.SERVICES if s.name == name)
        pid = service.pid()
        if pid is None:
            fault.note = "was not running"
            return False
        low, high = PAUSE_SECONDS
        seconds = low + (fault.offset - 3) / 17 * (high - low)  # the seed's offset (3-20) mapped
        os.killpg(pid, signal.SIGSTOP)
        fault.injected = now
        self.say(f"fault: SIGSTOP {name} (pid {pid}) for {seconds:.0f}s")

        def resume() -> None:
            time.sleep(seconds)
            os.killpg(pid, signal.SIGCONT)
            fault.recovered = time.monotonic()
            self.say(f"{name}: SIGCONT after {fault.recovered - now:.0f}s")

        self._background(fault.kind, resume)
        return True

    def cut_lock(self, fault: Fault, now: float) -> bool:
        """Kills the MySQL connections holding the streams' aggregate locks while an aggregate
        run is well into its work (ingest's own aggregation may hold one too)."""
        from jobs.settings import JobSettings
        from jobs.stream_lock import lock_name
        from jobs.streams import STREAMS

        job = self.jobs.running("aggregate")
        if job is None or now - job.started < kill_offset(fault.offset, self.jobs.run_lengths("aggregate")):
            return False
        settings = JobSettings(mysql_database=self.stores.name)
        names = [lock_name(settings, spec.name) for spec in STREAMS.values()]
        holders = [
            (name, holder)
            for name in names
            for (holder,) in self.stores.sql(f"SELECT IS_USED_LOCK('{name}')")
            if holder is not None
        ]
        if not holders:
            return False
        for _, holder in holders:
            self.stores.execute(f"KILL CONNECTION {int(holder)}")
        fault.injected = fault.recovered = now
        self.say("fault: killed the lock connections of " + ", ".join(f"{n} ({h})" for n, h in holders))
        return True

    def _background(self, kind: str, recover: Callable[[], None]) -> None:
        thread = threading.Thread(target=recover, daemon=True)
        thread.start()
        self.restarting[kind] = thread

    def survived(self, fault: Fault) -> bool:
        """Back up (a server), and every job kind succeeded in a run that started after it."""
        if fault.recovered is None:
            return False
        kinds = JOBS if fault.kind in (*SERVERS, *PAUSES) else ("aggregate",) if fault.kind == LOCK else (fault.kind,)
        for kind in kinds:
            if not self.jobs.succeeded_after(kind, fault.recovered):
                fault.note = f"no {kind} succeeded after it"
                return False
        return True
