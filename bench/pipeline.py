"""Benchmark of the pipeline on the local stack, stream by stream: prints numbers, asserts nothing.

    python -m bench.pipeline [--events 200000] [--cycles 5] [--rate 2000] [--streams tracking,ads,orders]

For each stream:
1. producer throughput: --events generated events sent as fast as Kafka acknowledges them;
2. ingest and aggregate over them, each as `python -m jobs <name> --stream S` (Spark start-up
   included): seconds, events/s, seconds per million events, peak RSS of the job's process
   tree (Python + Spark's JVM, sampled every 250 ms).
Then, for tracking, freshness under load: the producer streams at --rate while
ingest+aggregate run back to back --cycles times; after each cycle, now minus the newest
event in MySQL.
Each run uses its own topic, keyspace and database.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
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
        **stack.tidemark_env(),
        "TIDEMARK_TRACKING_TOPIC": f"{name}.tracking",
        "TIDEMARK_ADS_TOPIC": f"{name}.ads",
        "TIDEMARK_CASSANDRA_KEYSPACE": name,
        "TIDEMARK_MYSQL_DATABASE": name,
        "TIDEMARK_RECRUIT_DATABASE": f"{name}_recruit",
        "TIDEMARK_SHOP_DATABASE": f"{name}_shop",
        "TIDEMARK_ORDERS_TOPIC": f"{name}.orders",
        **{
            f"TIDEMARK_USERLOGS_{part}_TOPIC": f"{name}.userlogs_{part.lower()}"
            for part in ("SESSION", "AUTH", "ACTIVITY")
        },
        "TIDEMARK_CHECKPOINT_DIR": str(stack.STACK / "bench" / name),
        "TIDEMARK_PUSHGATEWAY": "",
        "TIDEMARK_PRODUCER_METRICS_PORT": "0",
        "TIDEMARK_PRODUCER_LATE_RATE": "0",
    }


def tree_rss_mib(root: int) -> float:
    """RSS of a process and all its descendants (the job's Python and its Spark JVM)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * resource.getpagesize()
    tree, frontier = {root}, [root]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier and p not in tree]
        tree.update(children)
        frontier = children
    return sum(rss.get(p, 0) for p in tree) / 2**20


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS MiB of the whole process tree) of one command."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([sys.executable, *argv], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, tree_rss_mib(proc.pid))
            time.sleep(0.25)
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            log.seek(0)
            sys.exit(f"bench: {' '.join(argv)} failed:\n{log.read()[-3000:]}")
    return seconds, peak


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
    parser.add_argument("--streams", default="tracking,ads,orders,userlogs", help="comma-separated streams to measure")
    args = parser.parse_args(argv)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    env = environment(name)

    timed(["-m", "jobs", "migrate"], env)
    for stream in args.streams.split(","):
        producing = {**env, "TIDEMARK_PRODUCER_STREAM": stream, "TIDEMARK_PRODUCER_RATE": "0"}
        seconds, _ = timed(["-m", "producer"], {**producing, "TIDEMARK_PRODUCER_MAX_EVENTS": str(args.events)})
        rate = args.events / seconds
        print(f"{stream:8} producer   {args.events:>9,} events in {seconds:6.1f}s  {rate:>9,.0f} events/s")
        for job in ("ingest", "aggregate"):
            seconds, peak = timed(["-m", "jobs", job, "--stream", stream], env)
            print(
                f"{stream:8} {job:10} {args.events:>9,} events in {seconds:6.1f}s  "
                f"{args.events / seconds:>9,.0f} events/s  {seconds / args.events * 1e6:7.1f} s per million  "
                f"peak RSS {peak:,.0f} MiB"
            )
    if "tracking" not in args.streams.split(","):
        return 0

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
            cycle, _ = timed(["-m", "jobs", "ingest", "--stream", "tracking"], env)
            more, _ = timed(["-m", "jobs", "aggregate", "--stream", "tracking"], env)
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
