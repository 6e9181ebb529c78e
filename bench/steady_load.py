"""Freshness under a steady load: the producers at a fixed rate while ingest runs as a
continuous driver or on a CronJob's cadence, the probe sampling each stream's age every second
after a warm-up, and what the jobs cost meanwhile (peak RSS, cores, the driver's Spark jobs)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench import spark_jobs
from bench.commands import Bench, enabling
from bench.probe import Freshness, cores_between, cpu_by_process, percentile, tree_rss_by_command, tree_rss_mib

SPARK_UI_PORT = 14040  # the continuous driver's, for its jobs (bench/spark_jobs.py)


def steady_producers(bench: Bench, streams: list[str], args: argparse.Namespace, mode: str) -> list[Any]:
    return [
        bench.spawn(
            f"{mode}-{stream}-producer",
            ["-m", "producer"],
            {
                "TIDEMARK_PRODUCER_STREAM": stream,
                "TIDEMARK_PRODUCER_RATE": str(args.rate if stream == "tracking" else args.side_rate),
            },
        )
        for stream in streams
    ]


def stop(procs: list[Any]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Sampled:
    """What the bench watches of the jobs under steady load, besides freshness."""

    running: Any = None  # the ingest process now running
    driver_rss: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)  # peak RSS by command
    cores: dict[str, float] = field(default_factory=dict)  # by process, over the sampled window
    window_start: float = 0.0  # when the sampled window began (epoch seconds)
    spark_jobs: dict[str, Any] = field(default_factory=dict)  # the driver's, over the window

    def sample_rss(self, by_command: bool = False) -> None:
        self.driver_rss = max(self.driver_rss, tree_rss_mib(self.running.pid))
        if by_command:
            for command, mib in tree_rss_by_command(self.running.pid).items():
                self.parts[command] = max(mib, self.parts.get(command, 0.0))


def continuous(
    bench: Bench, args: argparse.Namespace, env: dict[str, str], producers: dict[str, Any], sampled: Sampled
) -> None:
    """One continuous driver for the warm-up and the sampled window; the cores each process
    uses over the window (where the machine's CPU goes under the steady load)."""
    bench.say(
        f"freshness, continuous: warm-up {args.warmup_seconds}s, then {args.steady_seconds}s sampled every second"
    )
    sampled.running = bench.spawn(
        "continuous-ingest",
        ["-m", "jobs", "ingest"],
        {
            **env,
            "TIDEMARK_INGEST_TRIGGER": "continuous",
            "TIDEMARK_INGEST_INTERVAL_SECONDS": str(args.interval),
            "TIDEMARK_SPARK_UI_PORT": str(SPARK_UI_PORT),
        },
    )
    watched = {
        "driver": sampled.running.pid,
        **{f"producer {s}": p.pid for s, p in producers.items()},
    }
    warm = time.monotonic() + args.warmup_seconds
    deadline = warm + args.steady_seconds
    cpu_before: tuple[float, dict[str, float]] | None = None
    # Spark's UI keeps its last 1,000 jobs: read them often enough to see every one.
    jobs: dict[int, dict[str, Any]] = {}
    next_read = warm
    while time.monotonic() < deadline:
        if cpu_before is None and time.monotonic() >= warm:
            cpu_before = (time.monotonic(), cpu_by_process(watched))
            sampled.window_start = time.time()
        if time.monotonic() >= next_read:
            try:
                jobs.update((job["jobId"], job) for job in spark_jobs.completed_jobs(SPARK_UI_PORT))
                next_read = time.monotonic() + 20
            except OSError as e:
                # A saturated driver's UI can miss a deadline; its jobs wait there for the next read.
                print(f"bench: the driver's UI did not answer ({e}); reading its jobs again in 5 s", flush=True)
                next_read = time.monotonic() + 5
        sampled.sample_rss(by_command=True)
        if sampled.running.poll() is not None:
            sys.exit(f"bench: continuous ingest stopped (log {bench.logs / 'continuous-ingest.log'})")
        time.sleep(1)
    if cpu_before is not None:
        at, before = cpu_before
        sampled.cores = cores_between(before, cpu_by_process(watched), time.monotonic() - at)
        jobs.update((job["jobId"], job) for job in spark_jobs.completed_jobs(SPARK_UI_PORT))
        sampled.spark_jobs = spark_jobs.summary(list(jobs.values()), sampled.window_start, time.time())


def cron(bench: Bench, args: argparse.Namespace, env: dict[str, str], sampled: Sampled) -> None:
    """`ingest` every --cron-seconds, never two at once (concurrencyPolicy: Forbid)."""
    seconds = args.cron_cycles * args.cron_seconds
    bench.say(
        f"freshness, cron: a run every {args.cron_seconds}s, {args.cron_cycles} cycles after a warm-up "
        f"(about {(seconds + args.warmup_seconds) / 60:.0f} min)"
    )
    deadline = time.monotonic() + args.warmup_seconds + seconds
    cycle = 0
    while time.monotonic() < deadline:
        tick = time.monotonic()
        if sampled.running is None or sampled.running.poll() is not None:
            if sampled.running is not None and sampled.running.returncode != 0:
                sys.exit(f"bench: a cron-mode ingest failed (log {bench.logs}/cron-ingest-*.log)")
            cycle += 1
            sampled.running = bench.spawn(f"cron-ingest-{cycle}", ["-m", "jobs", "ingest"], env)
        while time.monotonic() < tick + args.cron_seconds and time.monotonic() < deadline:
            sampled.sample_rss()
            time.sleep(1)


def freshness(bench: Bench, streams: list[str], args: argparse.Namespace, mode: str) -> dict[str, Any]:
    """Freshness per stream under steady load, sampled every second after a warm-up."""
    aggregating = {**enabling(streams), "TIDEMARK_INGEST_AGGREGATES": "true"}
    producers = steady_producers(bench, streams, args, mode)
    sampled = Sampled()
    seconds = args.steady_seconds if mode == "continuous" else args.cron_cycles * args.cron_seconds
    try:
        with Freshness(bench.name, streams) as probe:
            if mode == "continuous":
                continuous(bench, args, aggregating, dict(zip(streams, producers, strict=True)), sampled)
            else:
                cron(bench, args, aggregating, sampled)
            warmed = probe.samples[-1][0] - seconds if probe.samples else 0.0
    finally:
        stop(producers + ([sampled.running] if sampled.running is not None else []))
    result: dict[str, Any] = {"mode": mode, "seconds": seconds, "peak_driver_rss_mib": round(sampled.driver_rss)}
    result["peak_driver_rss_by_command_mib"] = {k: round(v) for k, v in sampled.parts.items()}
    result["stack_peak_rss_mib"] = {k: round(v) for k, v in probe.peak_stack_rss_mib.items()}
    if sampled.cores:
        result["steady_cores"] = sampled.cores
    if sampled.spark_jobs:
        result["spark_jobs"] = sampled.spark_jobs
    for stream in streams:
        series = probe.series(stream, after_s=warmed)
        ages = [age for _, age in series]
        result[stream] = {
            "samples": len(ages),
            "p50_s": round(percentile(ages, 50), 1) if ages else None,
            "p95_s": round(percentile(ages, 95), 1) if ages else None,
            "max_s": round(max(ages), 1) if ages else None,
            "series": [(round(at, 1), round(age, 1)) for at, age in series],
        }
    return result
