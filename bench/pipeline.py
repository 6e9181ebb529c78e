"""Benchmark of every stage of every stream on the local stack, beside a naive baseline
measured in the same run: prints a table, writes out/bench.json and out/bench.png, asserts
nothing.

    python -m bench.pipeline [--events 300000] [--streams tracking,ads,orders,userlogs]

For each stream, on its own topics, keyspace and database:
1. producer: --events generated events sent as fast as Kafka acknowledges them;
2. baseline: the seeds' kind of consumer (bench/baseline.py: kafka-python, one synchronous
   cassandra-driver INSERT per message) over the first --baseline-events of those events;
3. ingest and aggregate over the events, each as `python -m jobs <name> --stream S`, Spark
   start included: events/s, seconds per million, peak RSS of the process tree;
4. aggregate cost vs history: a run over an increment of --events/20 events when the stream
   holds 2 increments, and again after the main set made that history 11x larger. The ratio
   compares the runs' own chunk seconds (JVM start excluded; with it the ratio is nearer 1).
   Tracking's increments are stamped in hours of their own, so the history lies in other
   periods; the other streams' producers stamp or spread events over the recent past, so
   their increments re-open buckets the history filled.
Then freshness under a steady load (the producer at --rate events/s for tracking and
--side-rate for every other stream), sampled every second by a probe reading the newest event
time visible in MySQL:
- continuous: one `python -m jobs ingest` with the continuous trigger every --interval
  seconds, aggregating after each micro-batch (TIDEMARK_INGEST_AGGREGATES), for --steady-seconds;
- cron: a CronJob's cadence, `python -m jobs ingest` with TIDEMARK_INGEST_AGGREGATES every
  --cron-seconds (skipped while the last one runs, like concurrencyPolicy: Forbid), for
  --cron-cycles cycles.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer

from bench import report, spark_jobs
from bench.probe import (
    Freshness,
    cores_between,
    cpu_by_process,
    percentile,
    stack_rss_mib,
    tree_rss_by_command,
    tree_rss_mib,
)
from jobs.streams import FAMILIES, STREAMS
from local import cleanup, kafka_users, stack
from local import topics as kafka_topics

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out"
SPARK_UI_PORT = 14040  # the continuous driver's, for its jobs (bench/spark_jobs.py)
# Each stream's bucket (a family's parts share one), from the registry.
BUCKET_SECONDS = {stream: STREAMS[parts[0]].bucket_seconds for stream, parts in FAMILIES.items()}


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


def produce(bench: Bench, stream: str, events: int, label: str) -> tuple[float, Run]:
    """Sends `events` as fast as Kafka takes them; the producer's own rate (start-up excluded)."""
    run = bench.run(
        label,
        ["-m", "producer"],
        {
            "TIDEMARK_PRODUCER_STREAM": stream,
            "TIDEMARK_PRODUCER_RATE": "0",
            "TIDEMARK_PRODUCER_MAX_EVENTS": str(events),
        },
    )
    found = re.findall(r"sent (\d+) .* in [0-9.]+s \((\d+)/s\)", run.output)
    sent, rate = int(found[-1][0]), float(found[-1][1])
    if sent != events:
        sys.exit(f"bench: the {stream} producer sent {sent} events, not {events}")
    return rate, run


def send_backdated(bench: Bench, events: int, hours_ago: int) -> None:
    """`events` tracking beacons within one minute, `hours_ago` hours back, straight to Kafka."""
    from producer.beacons import BeaconFactory, Mix
    from producer.catalog import synthetic_catalog

    at = datetime.now(timezone.utc).replace(minute=10, second=30, microsecond=0) - timedelta(hours=hours_ago)
    beacons = BeaconFactory(synthetic_catalog(500, 20, hours_ago), Mix(late_rate=0), hours_ago)
    producer = KafkaProducer(
        **kafka_users.kafka_python(bench.env["TIDEMARK_KAFKA_BOOTSTRAP"], kafka_users.PRODUCER),
        acks="all",
        linger_ms=20,
    )
    for beacon in beacons.stream(events, at, spread=timedelta(seconds=20)):
        producer.send(bench.env["TIDEMARK_TRACKING_TOPIC"], orjson.dumps(beacon))
    producer.flush()
    producer.close()


def chunk_seconds(output: str) -> float:
    """The seconds aggregate spent in its chunks (JVM start and locks excluded)."""
    return sum(float(s) for s in re.findall(r" chunk: .*, ([0-9.]+)s \(.*\)$", output, re.MULTILINE))


def wait_for_next_bucket(bench: Bench, stream: str) -> None:
    """An increment lands in buckets of its own, so it never re-reads the history's."""
    width = BUCKET_SECONDS[stream]
    if width > 120:
        return
    time.sleep(width - time.time() % width + 1)


def measure_stream(bench: Bench, stream: str, args: argparse.Namespace) -> dict[str, Any]:
    increment = max(1000, args.events // 20)
    rss: dict[str, float] = {}

    def cycle(label: str, events: int, hours_ago: int = 0) -> tuple[Run, Run]:
        if hours_ago:
            send_backdated(bench, events, hours_ago)
        else:
            produce(bench, stream, events, f"{stream}-{label}-producer")
        ingested = bench.run(f"{stream}-{label}-ingest", ["-m", "jobs", "ingest", "--stream", stream])
        aggregated = bench.run(f"{stream}-{label}-aggregate", ["-m", "jobs", "aggregate", "--stream", stream])
        return ingested, aggregated

    # Tracking's increments land in hours of their own (3 and 2 hours ago), so the history
    # they are measured against is all in other periods. The other producers stamp events
    # now or spread them over the past, so their increments re-open buckets the history
    # filled: their ratio measures fuller buckets, not a longer history.
    backdated = stream == "tracking"
    bench.say(f"{stream}: history of {2 * increment:,} events, then one increment of {increment:,}")
    cycle("history", increment)
    if not backdated:
        wait_for_next_bucket(bench, stream)
    _, small = cycle("increment-1", increment, hours_ago=3 if backdated else 0)

    bench.say(f"{stream}: producer, {args.events:,} events as fast as Kafka takes them")
    producer_eps, run = produce(bench, stream, args.events, f"{stream}-producer")
    bench.stage(stream, "producer", args.events, run, producer_eps)
    rss["producer"] = run.peak_rss_mib

    baseline_events = min(args.baseline_events, args.events)
    bench.say(f"{stream}: naive baseline over {baseline_events:,} of them (about {baseline_events / 1500:.0f}s)")
    run = bench.run(
        f"{stream}-baseline",
        ["-m", "bench.baseline", "--keyspace", bench.name, "--events", str(baseline_events)]
        + [arg for topic in kafka_topics.topics_in(bench.env, stream) for arg in ("--topic", topic)],
    )
    (line,) = re.findall(r"baseline (\d+) events in ([0-9.]+) s", run.output)
    baseline_eps = int(line[0]) / float(line[1])
    bench.timeline.append(
        (
            time.monotonic() - bench.started - float(line[1]),
            time.monotonic() - bench.started,
            stream,
            "baseline",
            baseline_eps,
        )
    )
    rss["baseline"] = run.peak_rss_mib

    bench.say(f"{stream}: ingest of those {args.events:,} events")
    run = bench.run(f"{stream}-ingest", ["-m", "jobs", "ingest", "--stream", stream])
    ingest_eps = bench.stage(stream, "ingest", args.events, run)
    rss["ingest"] = run.peak_rss_mib

    bench.say(f"{stream}: aggregate of those {args.events:,} events")
    run = bench.run(f"{stream}-aggregate", ["-m", "jobs", "aggregate", "--stream", stream])
    bench.stage(stream, "aggregate", args.events, run)
    rss["aggregate"] = run.peak_rss_mib
    aggregate_s = run.seconds

    bench.say(f"{stream}: the same increment of {increment:,} over 11x the history")
    if not backdated:
        wait_for_next_bucket(bench, stream)
    _, large = cycle("increment-2", increment, hours_ago=2 if backdated else 0)
    first, second = chunk_seconds(small.output), chunk_seconds(large.output)

    return {
        "events": args.events,
        "producer_eps": round(producer_eps),
        "baseline_eps": round(baseline_eps),
        "baseline_events": baseline_events,
        "ingest_eps": round(ingest_eps),
        "ingest_vs_baseline": round(ingest_eps / baseline_eps, 2),
        "aggregate_s_per_million": round(aggregate_s / args.events * 1e6, 1),
        "aggregate_history_ratio": round(second / first, 2) if first else None,
        "aggregate_increment_s": [round(small.seconds, 1), round(large.seconds, 1)],
        "aggregate_increment_chunk_s": [round(first, 2), round(second, 2)],
        "peak_rss_mib": {k: round(v) for k, v in rss.items()},
    }


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
            jobs.update((job["jobId"], job) for job in spark_jobs.completed_jobs(SPARK_UI_PORT))
            next_read = time.monotonic() + 20
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
    enabled = {f"TIDEMARK_{s.upper()}_ENABLED": str(s in streams).lower() for s in BUCKET_SECONDS}
    aggregating = {**enabled, "TIDEMARK_INGEST_AGGREGATES": "true"}
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


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text()
    total_kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
    model = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    return {"cores": os.cpu_count(), "memory_gib": round(total_kib / 2**20, 1), "cpu": model.group(1) if model else ""}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=300_000, help="events per stream for the throughput stages")
    parser.add_argument("--baseline-events", type=int, default=30_000, help="events the naive baseline consumes")
    parser.add_argument("--streams", default="tracking,ads,orders,userlogs", help="comma-separated streams")
    parser.add_argument("--modes", default="continuous,cron", help="freshness modes to measure (continuous, cron)")
    parser.add_argument(
        "--throughput",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure producer, baseline, ingest and aggregate (--no-throughput: freshness only)",
    )
    parser.add_argument("--rate", type=int, default=2000, help="tracking events/s during the steady load")
    parser.add_argument("--side-rate", type=int, default=100, help="events/s of every other stream then")
    parser.add_argument("--interval", type=int, default=5, help="continuous mode: micro-batch interval, seconds")
    parser.add_argument(
        "--warmup-seconds",
        type=int,
        default=300,
        # A driver runs for days: its first minutes are the JIT compiling Spark (about a core at
        # two minutes, a quarter of one at eight), not the steady state the percentiles describe.
        help="seconds under load before freshness is sampled",
    )
    parser.add_argument("--steady-seconds", type=int, default=300, help="continuous mode: seconds sampled")
    parser.add_argument("--cron-seconds", type=int, default=60, help="cron mode: the schedule's period")
    parser.add_argument("--cron-cycles", type=int, default=10)
    parser.add_argument("--out", type=Path, default=OUT / "bench.json")
    parser.add_argument("--keep", action="store_true", help="keep the bench's keyspace, databases and topics")
    args = parser.parse_args(argv)
    streams = [s for s in args.streams.split(",") if s]
    unknown = set(streams) - set(BUCKET_SECONDS)
    if unknown:
        parser.error(f"--streams: unknown {sorted(unknown)}; known: {sorted(BUCKET_SECONDS)}")
    modes = [m for m in args.modes.split(",") if m]
    if set(modes) - {"continuous", "cron"}:
        parser.error("--modes: continuous and/or cron")

    # A terminated bench still drops what it made (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    name = f"bench_{uuid.uuid4().hex[:8]}"
    logs = OUT / "bench-logs" / name
    logs.mkdir(parents=True, exist_ok=True)
    bench = Bench(name, environment(name), logs)
    print(f"bench {name}: streams {', '.join(streams)}; logs in {logs}", flush=True)
    result: dict[str, Any] = {"machine": machine(), "name": name, "streams": {}, "freshness": {}}
    try:
        bench.migrate()
        for stream in streams if args.throughput else []:
            result["streams"][stream] = measure_stream(bench, stream, args)
            print(report.stream_line(stream, result["streams"][stream]), flush=True)
        for mode in modes:
            # Each mode on empty tables: buckets the throughput stages filled would make every
            # steady-load batch re-read them.
            steady = Bench(f"{name}_{mode}", environment(f"{name}_{mode}"), logs, started=bench.started)
            steady.migrate(f"migrate-{mode}")
            result["freshness"][mode] = freshness(steady, streams, args, mode)
            print(report.freshness_line(result["freshness"][mode], streams), flush=True)
    finally:
        if not args.keep:
            cleanup.drop([name, *(f"{name}_{mode}" for mode in modes)])
    result["stack_rss_mib"] = {k: round(v) for k, v in stack_rss_mib().items()}
    result["timeline"] = bench.timeline
    report.fold_freshness(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    png = report.plot(result, args.out.with_suffix(".png"))
    print()
    print(report.table(result))
    print(f"\nwrote {args.out} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
