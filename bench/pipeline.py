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
import os
import re
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

from bench import report
from bench.commands import OUT, Bench, environment
from bench.probe import stack_rss_mib
from bench.steady_load import freshness
from bench.throughput import measure_stream
from jobs.streams import FAMILIES
from local import cleanup


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
    parser.add_argument("--streams", default=",".join(FAMILIES), help="comma-separated streams")
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
    unknown = set(streams) - set(FAMILIES)
    if unknown:
        parser.error(f"--streams: unknown {sorted(unknown)}; known: {sorted(FAMILIES)}")
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
    png = report.write(result, args.out)
    print()
    print(report.table(result))
    print(f"\nwrote {args.out} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
