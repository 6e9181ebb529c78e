"""Benchmark of the tracking pipeline on the local stack: prints numbers, asserts nothing.

    python -m bench.pipeline [--events 200000] [--cycles 5] [--rate 2000]

1. producer throughput: --events generated beacons sent as fast as Kafka acknowledges them;
2. ingest and aggregate over them, each as `python -m jobs <name>` (Spark start-up included):
   seconds, events/s, seconds per million events, peak RSS of the job's process tree;
3. freshness under load: the producer streams at --rate while ingest+aggregate run back to
   back --cycles times; after each cycle, now minus the newest event in MySQL.
Each run uses its own topic, keyspace and database.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import mysql.connector

from local import stack

ROOT = Path(__file__).resolve().parent.parent


def environment(name: str) -> dict[str, str]:
    return {
        **os.environ,
        "TIDEMARK_KAFKA_BOOTSTRAP": f"{stack.HOST}:{stack.PORTS['kafka']}",
        "TIDEMARK_TRACKING_TOPIC": f"{name}.tracking",
        "TIDEMARK_CASSANDRA_HOSTS": stack.HOST,
        "TIDEMARK_CASSANDRA_PORT": str(stack.PORTS["cassandra"]),
        "TIDEMARK_CASSANDRA_KEYSPACE": name,
        "TIDEMARK_MYSQL_HOST": stack.HOST,
        "TIDEMARK_MYSQL_PORT": str(stack.PORTS["mariadb"]),
        "TIDEMARK_MYSQL_DATABASE": name,
        "TIDEMARK_RECRUIT_DATABASE": f"{name}_recruit",
        "TIDEMARK_SPARK_JARS_DIR": str(stack.jars("spark")),
        "TIDEMARK_CHECKPOINT_DIR": str(stack.STACK / "bench" / name),
        "TIDEMARK_PUSHGATEWAY": "",
        "TIDEMARK_PRODUCER_METRICS_PORT": "0",
        "TIDEMARK_PRODUCER_LATE_RATE": "0",
    }


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB of the process tree's largest member, log) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    done = subprocess.run([sys.executable, *argv], env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return seconds, peak, done.stderr


def newest_event_age(name: str) -> float:
    conn = mysql.connector.connect(
        host=stack.HOST, port=stack.PORTS["mariadb"], user=stack.APP_USER, password=stack.APP_PASSWORD, database=name
    )
    cursor = conn.cursor()
    cursor.execute("SELECT newest_event_time FROM watermarks WHERE stream = 'tracking'")
    row: Any = cursor.fetchone()
    conn.close()
    newest: datetime = row[0]
    return float((datetime.now(timezone.utc).replace(tzinfo=None) - newest).total_seconds())


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--rate", type=int, default=2000)
    args = parser.parse_args(argv)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    env = environment(name)

    timed(["-m", "jobs", "migrate"], env)
    seconds, _, _ = timed(
        ["-m", "producer"], {**env, "TIDEMARK_PRODUCER_RATE": "0", "TIDEMARK_PRODUCER_MAX_EVENTS": str(args.events)}
    )
    print(f"producer   {args.events:>9,} events in {seconds:6.1f}s  {args.events / seconds:>9,.0f} events/s")

    for job in ("ingest", "aggregate"):
        seconds, peak, _ = timed(["-m", "jobs", job], env)
        print(
            f"{job:10} {args.events:>9,} events in {seconds:6.1f}s  {args.events / seconds:>9,.0f} events/s  "
            f"{seconds / args.events * 1e6:7.1f} s per million  peak RSS {peak:,.0f} MiB"
        )

    stream = subprocess.Popen(
        [sys.executable, "-m", "producer"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**env, "TIDEMARK_PRODUCER_RATE": str(args.rate)},
    )
    ages = []
    try:
        for _ in range(args.cycles):
            cycle, _, _ = timed(["-m", "jobs", "ingest"], env)
            more, _, _ = timed(["-m", "jobs", "aggregate"], env)
            ages.append(newest_event_age(name))
            print(f"cycle      ingest+aggregate {cycle + more:5.1f}s  freshness {ages[-1]:5.1f}s")
    finally:
        stream.terminate()
        stream.wait(timeout=30)
    print(
        f"freshness  at {args.rate}/s over {len(ages)} cycles: p50 {percentile(ages, 50):.1f}s  "
        f"p95 {percentile(ages, 95):.1f}s  max {max(ages):.1f}s  mean {statistics.mean(ages):.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
