"""Benchmark of aggregate working through a large backlog: prints numbers, asserts nothing
but says whether the result equals the oracle.

    python -m bench.backlog [--hours 2] [--keys-per-minute 2500] [--chunk-buckets 60]

Sends --hours of tracking clicks with --keys-per-minute distinct (job, publisher, campaign,
group) keys in every minute bucket (2 h x 2,500 = 287,500 events: the demo's cardinality),
ingests them, then runs one `python -m jobs aggregate` over the whole dirty set and prints
its seconds, chunks, peak RSS of the process tree, and whether `analytics.events` equals the
oracle's rows.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from kafka import KafkaProducer

from bench.commands import OUT, ROOT, Bench, enabling, environment
from bench.probe import tree_rss_mib
from local import kafka_users, stack
from local import topics as kafka_topics
from producer.beacons import timeuuid_at


def backlog(hours: int, keys_per_minute: int, seed: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = (datetime.now(timezone.utc) - timedelta(hours=hours + 1)).replace(second=0, microsecond=0)
    beacons = []
    for minute in range(hours * 60):
        at = start + timedelta(minutes=minute)
        for key in range(keys_per_minute):
            beacons.append(
                {
                    "create_time": timeuuid_at(at + timedelta(seconds=rng.uniform(0, 59.9)), rng),
                    "job_id": 1 + key,
                    "publisher_id": 1 + key % 20,
                    "campaign_id": 1 + key % 50,
                    "group_id": 1 + key % 100,
                    "custom_track": "click",
                    "bid": round(rng.uniform(0.1, 3), 2),
                }
            )
    return beacons


def events_rows(name: str) -> dict[tuple[Any, ...], tuple[int, float]]:
    conn = stack.mariadb_connect(stack.OWNER_USER, stack.OWNER_PASSWORD, name)
    cursor = conn.cursor()
    cursor.execute("SELECT job_id, dates, hours, publisher_id, campaign_id, group_id, clicks, spend_hour FROM events")
    fetched: list[Any] = cursor.fetchall()
    rows = {tuple(r[:6]): (int(r[6]), float(r[7])) for r in fetched}
    conn.close()
    return rows


def main(argv: list[str]) -> int:
    from oracles.tracking import expected_events

    parser = argparse.ArgumentParser(
        prog="python -m bench.backlog", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hours", type=int, default=2)
    parser.add_argument("--keys-per-minute", type=int, default=2500)
    parser.add_argument("--chunk-buckets", type=int, default=60)
    args = parser.parse_args(argv)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    env = {**environment(name), **enabling(["tracking"])}
    logs = OUT / "bench-logs" / name
    logs.mkdir(parents=True, exist_ok=True)
    bench = Bench(name, env, logs)
    bench.migrate()

    beacons = backlog(args.hours, args.keys_per_minute)
    started = time.monotonic()
    producer = KafkaProducer(
        **kafka_users.kafka_python(env["TIDEMARK_KAFKA_BOOTSTRAP"], kafka_users.PRODUCER), acks="all", linger_ms=20
    )
    for b in beacons:
        producer.send(env[kafka_topics.variable("tracking")], orjson.dumps(b))
    producer.flush()
    producer.close()
    print(f"sent       {len(beacons):>9,} events in {time.monotonic() - started:6.1f}s")

    run = bench.run("ingest", ["-m", "jobs", "ingest"])
    print(f"ingest     {len(beacons):>9,} events in {run.seconds:6.1f}s  peak RSS {run.peak_rss_mib:,.0f} MiB")

    env["TIDEMARK_AGGREGATE_CHUNK_BUCKETS"] = str(args.chunk_buckets)
    started = time.monotonic()
    log = stack.STACK / "logs" / f"{name}-aggregate.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "jobs", "aggregate"], env=env, cwd=ROOT, stdout=out, stderr=out)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, tree_rss_mib(proc.pid))
            time.sleep(0.25)
    seconds = time.monotonic() - started
    summary = re.findall(r"aggregate done: (.*)", log.read_text())
    if proc.returncode != 0:
        print(f"aggregate  FAILED after {seconds:.1f}s (exit {proc.returncode}); log {log}")
        return 1
    print(f"aggregate  {len(beacons):>9,} events in {seconds:6.1f}s  peak RSS {peak:,.0f} MiB  {summary[-1]}")

    want = {k: (v["clicks"], v["spend_hour"]) for k, v in expected_events(beacons).items()}
    got = events_rows(name)
    exact = set(got) == set(want) and all(got[k][0] == want[k][0] and abs(got[k][1] - want[k][1]) < 1e-6 for k in want)
    print(f"oracle     {len(want):,} hourly rows expected, {len(got):,} in MySQL: {'exact' if exact else 'DIFFERENT'}")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
