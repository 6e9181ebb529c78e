"""A bench's own corner of the local stack (topics, keyspace, databases and checkpoints named
after the run) and the commands it runs there: each one logged, timed and its process tree's
peak RSS sampled, each finished stage placed on the run's timeline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from bench.probe import tree_rss_mib
from jobs.streams import FAMILIES
from local import stack
from local import topics as kafka_topics

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out"


def environment(name: str) -> dict[str, str]:
    return {
        **os.environ,
        **stack.tidemark_env(),
        **kafka_topics.run_topics(name),
        "TIDEMARK_CASSANDRA_KEYSPACE": name,
        "TIDEMARK_MYSQL_DATABASE": name,
        "TIDEMARK_RECRUIT_DATABASE": f"{name}_recruit",
        "TIDEMARK_SHOP_DATABASE": f"{name}_shop",
        "TIDEMARK_CHECKPOINT_DIR": str(stack.STACK / "bench" / name),
        "TIDEMARK_PUSHGATEWAY": "",
        "TIDEMARK_PRODUCER_METRICS_PORT": "0",
        "TIDEMARK_PRODUCER_LATE_RATE": "0",
    }


def enabling(streams: Collection[str]) -> dict[str, str]:
    """The settings that enable these streams and disable every other one in the registry."""
    return {f"TIDEMARK_{s.upper()}_ENABLED": str(s in streams).lower() for s in FAMILIES}


@dataclass
class Run:
    """One finished command: wall seconds, peak RSS of its process tree, its output."""

    seconds: float
    peak_rss_mib: float
    output: str


@dataclass
class Bench:
    name: str
    env: dict[str, str]
    logs: Path
    started: float = field(default_factory=time.monotonic)
    # (start, end, stream, stage, events/s) since the bench began: throughput over time.
    timeline: list[tuple[float, float, str, str, float]] = field(default_factory=list)
    steps: int = 0

    def say(self, what: str) -> None:
        self.steps += 1
        print(f"[{time.monotonic() - self.started:6.0f}s] {what}", flush=True)

    def run(self, label: str, argv: list[str], extra: dict[str, str] | None = None) -> Run:
        """Runs `python ARGV` to the end, sampling the RSS of its tree every 250 ms."""
        log = self.logs / f"{label}.log"
        started = time.monotonic()
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, *argv], env={**self.env, **(extra or {})}, cwd=ROOT, stdout=out, stderr=out
            )
            peak = 0.0
            while proc.poll() is None:
                peak = max(peak, tree_rss_mib(proc.pid))
                time.sleep(0.25)
        seconds = time.monotonic() - started
        output = log.read_text()
        if proc.returncode != 0:
            sys.exit(f"bench: {' '.join(argv)} failed (log {log}):\n{output[-3000:]}")
        return Run(seconds, peak, output)

    def migrate(self, label: str = "migrate") -> Run:
        """The bench's tables, and its topics as the chart's KafkaTopics would make them."""
        every = [topic for stream in FAMILIES for topic in kafka_topics.topics_in(self.env, stream)]
        kafka_topics.ensure(self.env["TIDEMARK_KAFKA_BOOTSTRAP"], every)
        return self.run(label, ["-m", "jobs", "migrate"])

    def stage(self, stream: str, stage: str, events: int, run: Run, eps: float | None = None) -> float:
        """Records a finished stage on the timeline; its rate is events over wall seconds
        unless the command measured its own (`eps`)."""
        end = time.monotonic() - self.started
        eps = eps if eps is not None else events / run.seconds if run.seconds else 0.0
        self.timeline.append((end - run.seconds, end, stream, stage, eps))
        return eps

    def spawn(self, label: str, argv: list[str], extra: dict[str, str]) -> subprocess.Popen[bytes]:
        out = (self.logs / f"{label}.log").open("w")
        return subprocess.Popen([sys.executable, *argv], env={**self.env, **extra}, cwd=ROOT, stdout=out, stderr=out)
