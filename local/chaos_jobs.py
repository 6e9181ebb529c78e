"""The chaos run's jobs: each run a `python -m jobs <name>` process group of its own, as a pod,
started as the Deployment (continuous ingest) and the CronJobs (aggregate, dims) would."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = re.compile(r" batch \d+: (\d+) raw")


@dataclass
class Job:
    """One run of a job."""

    kind: str
    proc: subprocess.Popen[bytes]
    log: Path
    started: float
    ended: float | None = None
    killed: bool = False
    read_at: int = 0
    batches: list[float] = field(default_factory=list)  # when each micro-batch with rows was seen

    @property
    def ok(self) -> bool:
        return self.ended is not None and self.proc.returncode == 0

    def scan(self) -> None:
        """Notes the micro-batches the log gained since the last look."""
        try:
            with self.log.open("rb") as f:
                f.seek(self.read_at)
                text = f.read().decode(errors="replace")
        except OSError:
            return
        complete = text.rfind("\n") + 1
        self.read_at += len(text[:complete].encode())
        self.batches += [time.monotonic() for m in BATCH.finditer(text[:complete]) if int(m.group(1)) >= 0]


def kill_offset(seed_offset: float, run_lengths: list[float]) -> float:
    """How far into a job's run to kill it: the seed's offset, cut to 60% of the shortest whole
    run of the kind seen so far. A CronJob run with little to do (continuous ingest aggregates
    as it goes) can end before the seed's offset every time, and the fault would never land."""
    return min(seed_offset, 0.6 * min(run_lengths)) if run_lengths else seed_offset


class Jobs:
    """Every run of the chaos run's jobs, each logging to a file of its own under `logs`."""

    def __init__(self, env: Mapping[str, str], logs: Path, say: Callable[[str], None]) -> None:
        self.env = env
        self.logs = logs
        self.say = say
        self.runs: list[Job] = []

    def spawn(self, kind: str, extra: Mapping[str, str] | None = None) -> Job:
        log = self.logs / f"{len(self.runs) + 1:03d}-{kind}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "jobs", kind],
                cwd=ROOT,
                env={**self.env, **(extra or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: a kill takes the JVM with it, as a pod's
            )
        job = Job(kind, proc, log, time.monotonic())
        self.runs.append(job)
        return job

    def continuous_ingest(self, interval_seconds: int) -> Job:
        """The Deployment's pod: ingest in continuous mode, aggregating each micro-batch."""
        return self.spawn(
            "ingest",
            {
                "TIDEMARK_INGEST_TRIGGER": "continuous",
                "TIDEMARK_INGEST_INTERVAL_SECONDS": str(interval_seconds),
                "TIDEMARK_INGEST_AGGREGATES": "true",
                "TIDEMARK_SPARK_UI_PORT": "14140",
            },
        )

    def reap(self) -> None:
        for job in self.runs:
            if job.ended is None:
                job.scan()
                if job.proc.poll() is not None:
                    job.ended = time.monotonic()
                    job.scan()
                    if job.proc.returncode != 0 and not job.killed:
                        self.say(f"{job.kind} exited {job.proc.returncode} (log {job.log})")

    def running(self, kind: str) -> Job | None:
        return next((j for j in reversed(self.runs) if j.kind == kind and j.ended is None), None)

    def kill(self, job: Job) -> None:
        job.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.proc.pid, signal.SIGKILL)

    def kill_all(self) -> None:
        for job in self.runs:
            if job.ended is None and job.proc.poll() is None:
                self.kill(job)

    def run_lengths(self, kind: str) -> list[float]:
        """How long each successful run of the kind took."""
        return [j.ended - j.started for j in self.runs if j.kind == kind and j.ok and j.ended is not None]

    def succeeded_after(self, kind: str, moment: float) -> bool:
        """Whether a run of the kind started after `moment` succeeded (continuous ingest: wrote a
        micro-batch after it)."""
        return any(
            j.kind == kind
            and ((j.ok and j.started >= moment) or (kind == "ingest" and any(t >= moment for t in j.batches)))
            for j in self.runs
        )
