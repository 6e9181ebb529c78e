"""The throughput stages of one stream on the bench's own topics and stores: the producer as
fast as Kafka acknowledges, the naive baseline, ingest and aggregate (Spark start included),
and aggregate's cost for one increment against a small and an 11x larger history."""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from kafka import KafkaProducer

from bench.commands import Bench, Run
from jobs.streams import FAMILIES, STREAMS
from local import kafka_users
from local import topics as kafka_topics

# Each stream's bucket (a family's parts share one), from the registry.
BUCKET_SECONDS = {stream: STREAMS[parts[0]].bucket_seconds for stream, parts in FAMILIES.items()}


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
        producer.send(bench.env[kafka_topics.variable("tracking")], orjson.dumps(beacon))
    producer.flush()
    producer.close()


def chunk_seconds(output: str) -> float:
    """The seconds aggregate spent in its chunks (JVM start and locks excluded)."""
    return sum(float(s) for s in re.findall(r" chunk: .*, ([0-9.]+)s \(.*\)$", output, re.MULTILINE))


def wait_for_next_bucket(stream: str) -> None:
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
        wait_for_next_bucket(stream)
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
        wait_for_next_bucket(stream)
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
