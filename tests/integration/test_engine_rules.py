"""The correctness the stream engine owns for every stream (DESIGN 3), on the local stack:
a recompute replaces a bucket's contribution (vanished keys leave MySQL), one aggregate runs at
a time per stream, and a run works through its dirty set in bounded, committed chunks."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cassandra.cluster import Session

from oracles.ads import decode, expected_windows
from oracles.ads import event_time as ad_event_time
from oracles.tracking import event_time
from producer.ads import AdEventFactory
from producer.beacons import timeuuid_at

from .conftest import ROOT, mysql_connect
from .pipeline import Pipeline
from .test_tracking_edges import PLAIN
from .test_tracking_pipeline import assert_matches_oracle, factory

NOW = datetime.now(timezone.utc)


def clicks_for(job_id: int, create_times: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "create_time": t,
            "job_id": job_id,
            "publisher_id": 1,
            "campaign_id": 2,
            "group_id": 3,
            "custom_track": "click",
        }
        for t in create_times
    ]


def test_a_key_a_recompute_no_longer_produces_leaves_mysql(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    rng = random.Random(61)
    times = [timeuuid_at(NOW - timedelta(minutes=rng.uniform(0, 90)), rng) for _ in range(20)]
    pipeline.send(clicks_for(101, times))
    pipeline.ingest()
    pipeline.aggregate()
    assert pipeline.sql("SELECT job_id, SUM(clicks) FROM events GROUP BY job_id") == [(101, 20)]

    pipeline.send(clicks_for(201, times))  # the same event ids, now attributed to another job
    pipeline.ingest()
    pipeline.aggregate()
    assert pipeline.sql("SELECT job_id, SUM(clicks) FROM events GROUP BY job_id") == [(201, 20)]
    assert_matches_oracle(pipeline)

    # A report time zone change followed by a backfill re-cuts every hour; the UTC hours go.
    pipeline.report_timezone = "Asia/Kolkata"
    pipeline.backfill((NOW - timedelta(hours=2)).isoformat(), (NOW + timedelta(minutes=1)).isoformat())
    pipeline.aggregate()
    assert pipeline.sql("SELECT SUM(clicks) FROM events")[0][0] == 20
    assert_matches_oracle(pipeline)


def test_an_ad_whose_raw_events_are_gone_leaves_its_windows(spark: Any, tmp_path: Path, cassandra: Session) -> None:
    pipeline = Pipeline(spark, tmp_path, streams=("ads",))
    pipeline.migrate()
    messages = list(AdEventFactory(seed=62, ads=4, backdate_max_seconds=600).stream(400, NOW))
    pipeline.send_messages("ads", messages)
    pipeline.ingest()
    pipeline.aggregate()
    assert {ad for ad, _ in pipeline.ad_windows()} == {"ad_0000", "ad_0001", "ad_0002", "ad_0003"}

    # Raw rows expire (TTL) or are purged: after a backfill the aggregates follow the raw truth.
    for row in list(cassandra.execute(f"SELECT bucket, shard, event_id, ad_id FROM {pipeline.name}.ads_raw")):
        if row.ad_id == "ad_0002":
            cassandra.execute(
                f"DELETE FROM {pipeline.name}.ads_raw WHERE bucket = %s AND shard = %s AND event_id = %s",
                (row.bucket, row.shard, row.event_id),
            )
    pipeline.backfill((NOW - timedelta(minutes=15)).isoformat(), (NOW + timedelta(minutes=1)).isoformat(), "ads")
    pipeline.aggregate()
    remaining = [value for key, value in messages if key != b"ad_0002"]
    assert pipeline.ad_windows() == {k: _stats(w) for k, w in expected_windows(remaining).items()}


def _stats(window: dict[str, Any]) -> dict[str, Any]:
    from .pipeline import AD_WINDOW_COLUMNS

    return {c: window[c] for c in AD_WINDOW_COLUMNS}


def test_two_aggregates_at_once_under_load_converge_exactly(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    f = factory(63, PLAIN)
    pipeline.send(list(f.stream(3000, NOW, spread=timedelta(minutes=120))))  # ~120 fresh buckets
    pipeline.ingest()

    both = [
        subprocess.Popen(
            [sys.executable, "-m", "jobs", "aggregate"],
            cwd=ROOT,
            env={**pipeline_env(pipeline), "TIDEMARK_AGGREGATE_LOCK_WAIT_SECONDS": "600"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    # Load while they run: newer events for the same buckets keep arriving.
    pipeline.send(list(f.stream(1500, NOW, spread=timedelta(minutes=120))))
    pipeline.ingest()
    outcomes = [p.communicate(timeout=600) for p in both]
    assert [p.returncode for p in both] == [0, 0], [err[-2000:] for _, err in outcomes]
    assert not any("Deadlock" in err for _, err in outcomes)

    pipeline.aggregate()
    assert pipeline.sql("SELECT COUNT(*) FROM dirty_buckets") == [(0,)]
    assert_matches_oracle(pipeline)


@pytest.mark.parametrize(("stream", "table"), [("tracking", "events"), ("ads", "ad_window_stats")])
def test_a_second_aggregate_waits_then_exits_cleanly(spark: Any, tmp_path: Path, stream: str, table: str) -> None:
    pipeline = Pipeline(spark, tmp_path, streams=(stream,))
    pipeline.migrate()
    if stream == "tracking":
        pipeline.send(list(factory(64, PLAIN).stream(200, NOW, spread=timedelta(minutes=5))))
    else:
        pipeline.send_messages("ads", list(AdEventFactory(seed=64).stream(200, NOW)))
    pipeline.ingest()
    holder = mysql_connect(pipeline.name)
    try:
        cursor = holder.cursor()
        cursor.execute("SELECT GET_LOCK(%s, 0)", (f"tidemark.aggregate.{pipeline.name}.{stream}",))
        assert cursor.fetchone() == (1,)
        done = pipeline.run_main(
            "jobs", "aggregate", "--stream", stream, extra_env={"TIDEMARK_AGGREGATE_LOCK_WAIT_SECONDS": "2"}
        )
    finally:
        holder.close()
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"another aggregate of {stream} is running" in done.stderr
    assert pipeline.sql(f"SELECT COUNT(*) FROM {table}") == [(0,)]
    assert pipeline.sql("SELECT COUNT(*) FROM dirty_buckets")[0][0] > 0, "its buckets stay for the next run"


def pipeline_env(pipeline: Pipeline) -> dict[str, str]:
    import os

    return {**os.environ, **pipeline.env}


def test_a_large_dirty_set_goes_through_in_bounded_chunks(spark: Any, tmp_path: Path) -> None:
    tracking = Pipeline(spark, tmp_path / "tracking", streams=("tracking", "ads"))
    tracking.migrate()
    beacons = list(factory(65, PLAIN).stream(4000, NOW, spread=timedelta(hours=2)))
    tracking.send(beacons)
    ads = list(AdEventFactory(seed=65, ads=30, backdate_max_seconds=3600).stream(3000, NOW))
    tracking.send_messages("ads", ads)
    tracking.ingest()
    run = tracking.aggregate(aggregate_chunk_buckets=7)

    minutes = {event_time(b["create_time"]).replace(second=0, microsecond=0) for b in beacons}
    epoch = datetime(1970, 1, 1)
    half_minutes = {(ad_event_time(decode(v)["timestamp"]) - epoch).total_seconds() // 30 for _, v in ads}
    assert run.chunks == -(-len(minutes) // 7) + -(-len(half_minutes) // 7), "each stream in chunks of 7 buckets"
    assert_matches_oracle(tracking)
    assert tracking.ad_windows() == {k: _stats(w) for k, w in expected_windows(v for _, v in ads).items()}


def test_a_year_long_backfill_marks_every_bucket(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    # A year of history kept raw: the horizon lifted (a backfill leaves buckets past it alone).
    marked = pipeline.backfill("2025-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00", tracking_retention_days=0)
    assert marked.buckets_recomputed == 365 * 24 * 60
    assert pipeline.sql("SELECT COUNT(*) FROM dirty_buckets WHERE stream = 'tracking'") == [(365 * 24 * 60,)]


def test_a_stream_whose_topic_does_not_exist_yet_is_skipped(spark: Any, tmp_path: Path) -> None:
    from kafka import KafkaAdminClient

    from local import kafka_users

    from .conftest import KAFKA

    pipeline = Pipeline(spark, tmp_path, streams=("tracking", "orders"))
    pipeline.migrate(create_topics=False)  # as before the operator reconciles the KafkaTopics
    pipeline.send(list(factory(66, PLAIN).stream(100, NOW, spread=timedelta(minutes=2))))
    ingested = pipeline.ingest()  # no order was ever sent: its topic does not exist
    assert ingested.rows_by_stream == {"tracking": 100}
    admin = KafkaAdminClient(**kafka_users.kafka_python(KAFKA))
    assert f"{pipeline.name}.orders" not in admin.list_topics(), "ingest must not create it"
    admin.close()


def test_raw_rows_live_the_retention_from_their_event_time(spark: Any, tmp_path: Path, cassandra: Session) -> None:
    # A late event is kept until its own bucket leaves, not a whole retention after it arrived:
    # otherwise a recompute of an expired bucket would find only its late rows.
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    ages = {"2 days": timedelta(days=2), "1 hour": timedelta(hours=1)}
    sent = {age: next(factory(71 + i, PLAIN).stream(1, NOW - gap)) for i, (age, gap) in enumerate(ages.items())}
    pipeline.send(list(sent.values()))
    assert pipeline.ingest(tracking_retention_days=3).rejected == {}
    ttl = {
        str(row.create_time): row.ttl
        for row in cassandra.execute(f"SELECT create_time, TTL(event_time) AS ttl FROM {pipeline.name}.tracking_raw")
    }
    for age, beacon in sent.items():
        left = timedelta(days=3) - (datetime.now(timezone.utc) - event_time(beacon["create_time"]))
        # The run took a few seconds: its clock read up to a few minutes before this one. Below,
        # whole seconds twice: the TTL is floored, and Cassandra counts the time left in seconds.
        assert left.total_seconds() - 2 <= ttl[beacon["create_time"]] <= left.total_seconds() + 300, (age, ttl)
