"""Defects that let numbers drift under bad input or a changed setting, each on the real stack."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from local import stack
from oracles.ads import expected_windows
from oracles.tracking import event_time
from producer.ads import encode as encode_ad
from producer.beacons import timeuuid_at

from .conftest import ROOT
from .pipeline import AD_WINDOW_COLUMNS, Pipeline
from .test_tracking_edges import PLAIN, valid_beacon
from .test_tracking_pipeline import assert_matches_oracle, factory


def rejects(pipeline: Pipeline) -> dict[bytes, tuple[str, str | None]]:
    rows = cassandra_rows(f"SELECT reason, detail, payload FROM {pipeline.name}.rejects")
    return {bytes(r.payload): (r.reason, r.detail) for r in rows}


def test_a_bid_that_is_not_money_is_rejected_and_later_clicks_still_count(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    now = datetime.now(timezone.utc)
    rng = random.Random(14)
    # A job of its own (the catalog's are 1..60), so its spend is known.
    click = {**valid_beacon(3, now), "custom_track": "click", "job_id": 9_999, "publisher_id": 1}

    def bid(value: Any) -> dict[str, Any]:
        return {**click, "create_time": timeuuid_at(now, rng), "bid": value}

    bad = {
        orjson.dumps(bid(-5)): ("negative_value", "bid=-5"),
        orjson.dumps(bid("1e400")): ("non_finite_number", "bid=1e400"),
        orjson.dumps(bid(1.7e308)): ("out_of_range", "bid=1.7E308"),
        orjson.dumps(bid("2000000")): ("out_of_range", "bid=2000000"),
    }
    # Three of these summed overflow a double; each is rejected, so none reaches a sum.
    bad |= {orjson.dumps(bid(1.7e308)): ("out_of_range", "bid=1.7E308") for _ in range(2)}
    first = list(factory(41, PLAIN).stream(100, now, spread=timedelta(minutes=3)))
    later = [bid(0.1), bid(0.2), bid(0.7), bid(None), *factory(42, PLAIN).stream(100, now)]
    pipeline.send(first)
    pipeline.send_payloads(list(bad))
    pipeline.ingest()
    pipeline.aggregate()
    pipeline.send(later)
    pipeline.ingest()
    pipeline.aggregate()

    assert rejects(pipeline) == bad
    assert_matches_oracle(pipeline)
    assert pipeline.sql("SELECT SUM(spend_hour), SUM(clicks) FROM events WHERE job_id = 9999") == [
        (Decimal("1.000000"), Decimal(4))
    ]


def test_money_is_decimal_and_an_older_install_is_upgraded(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    # An install from before money was DECIMAL (and so before the totals): migrate upgrades the
    # partials first and builds the totals from them, DECIMAL too.
    pipeline.sql("ALTER TABLE events MODIFY spend_hour DOUBLE NOT NULL DEFAULT 0, MODIFY bid_set DOUBLE NULL")
    pipeline.sql("ALTER TABLE tracking_partials MODIFY bid_sum DOUBLE NOT NULL")
    pipeline.sql("DROP TABLE tracking_totals")
    pipeline.migrate()
    types = pipeline.sql(
        "SELECT table_name, column_name, column_type FROM information_schema.columns "
        "WHERE table_schema = %s AND column_name IN ('spend_hour', 'bid_set', 'bid_sum')",
        pipeline.name,
    )
    assert sorted(types) == [
        ("events", "bid_set", "decimal(24,6)"),
        ("events", "spend_hour", "decimal(24,6)"),
        ("tracking_partials", "bid_sum", "decimal(24,6)"),
        ("tracking_totals", "bid_sum", "decimal(24,6)"),
    ]
    now = datetime.now(timezone.utc)
    rng = random.Random(6)
    click = {**valid_beacon(4, now), "custom_track": "click", "job_id": 9_998, "publisher_id": 1}
    # Ten clicks of 0.1: a double sum is 0.9999999999999999.
    pipeline.send([{**click, "create_time": timeuuid_at(now, rng), "bid": 0.1} for _ in range(10)])
    pipeline.ingest()
    pipeline.aggregate()
    assert pipeline.sql("SELECT SUM(spend_hour), SUM(clicks) FROM events WHERE job_id = 9998") == [
        (Decimal("1.000000"), Decimal(10))
    ]


def test_text_keys_of_an_older_install_are_made_exact(spark: Any, tmp_path: Path) -> None:
    """An install whose tables fold case (utf8mb4's default collation) or pad with spaces
    (utf8mb4_bin, which tidemark used before): migrate makes every table of the jobs' database
    binary and NO PAD, and then `ad_7`, `AD_7` and `ad_7 ` are three rows."""
    pipeline = Pipeline(spark, tmp_path, streams=("ads",))
    pipeline.migrate()
    pipeline.sql("ALTER TABLE ad_window_partials CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    pipeline.sql("ALTER TABLE ad_window_stats CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    pipeline.sql(f"ALTER DATABASE `{pipeline.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    pipeline.migrate()
    collations = pipeline.sql(
        "SELECT DISTINCT collation_name FROM information_schema.columns "
        "WHERE table_schema = %s AND collation_name IS NOT NULL",
        pipeline.name,
    )
    assert collations == [("utf8mb4_nopad_bin",)]  # MariaDB's name; MySQL's is utf8mb4_0900_bin
    at = (datetime.now(timezone.utc) - timedelta(minutes=5)).replace(tzinfo=None).isoformat()
    names = ("ad_7", "AD_7", "Ad_7", "ad_7 ", "ad_7  ")
    records = [{"ad_id": ad, "timestamp": at, "clicks": 1, "views": 2, "cost": 0.5} for ad in names]
    pipeline.send_messages("ads", [(r["ad_id"].encode(), encode_ad(r)) for r in records])
    pipeline.ingest()
    pipeline.aggregate()
    ads = pipeline.sql("SELECT ad_id, SUM(total_clicks) FROM ad_window_stats GROUP BY ad_id")
    assert sorted(ads) == sorted((ad, Decimal(2)) for ad in names)
    assert pipeline.sql("SELECT COUNT(*) FROM dirty_buckets WHERE stream = 'ads'") == [(0,)]


def test_aggregate_reads_at_quorum_by_default(spark: Any, tmp_path: Path) -> None:
    """A keyspace with 2 replicas on a one-node stack: a quorum read needs both and fails,
    which proves the read is at quorum; at LOCAL_ONE (what the connector reads by default) it
    would pass and, on a real cluster, could miss rows a replica has not received yet."""
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    pipeline.send(list(factory(43, PLAIN).stream(50, datetime.now(timezone.utc))))
    pipeline.ingest()
    cluster = stack.cassandra_cluster()
    try:
        cluster.connect().execute(
            f"ALTER KEYSPACE {pipeline.name} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 2}}"
        )
        with pytest.raises(Exception, match=r"(?i)unavailable|LOCAL_QUORUM"):
            pipeline.aggregate()
        pipeline.aggregate(cassandra_read_consistency="LOCAL_ONE")
    finally:
        cluster.connect().execute(
            f"ALTER KEYSPACE {pipeline.name} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        )
        cluster.shutdown()
    assert_matches_oracle(pipeline)


def test_a_reject_read_again_on_another_day_is_stored_once(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs import ingest

    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    pipeline.send_payloads([b'{"create_time": ', b"[1, 2]"])
    pipeline.ingest()

    class Tomorrow(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.now(tz) + timedelta(days=1)

    # The same records read again a day later, as a reset checkpoint or a replay would.
    monkeypatch.setattr(ingest, "datetime", Tomorrow)
    pipeline.ingest(checkpoint_dir=str(tmp_path / "replay"))

    assert sorted(reason for reason, _ in rejects(pipeline).values()) == ["bad_json", "bad_json"]
    assert len(cassandra_rows(f"SELECT offset FROM {pipeline.name}.rejects")) == 2


# The shapes rejects had before: keyed by the day they were seen, then by Kafka partition alone.
OLDER_REJECTS = {
    "by seen day": "PRIMARY KEY ((stream, seen_day), topic, partition, offset)",
    "by partition": "PRIMARY KEY ((topic, partition), offset)",
}


@pytest.mark.parametrize("shape", OLDER_REJECTS)
def test_migrate_moves_rejects_of_an_older_install_to_the_day_key(spark: Any, tmp_path: Path, shape: str) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    ks = pipeline.name
    cassandra_rows(f"DROP TABLE {ks}.rejects")
    cassandra_rows(
        f"CREATE TABLE {ks}.rejects (stream text, seen_day date, topic text, partition int, offset bigint, "
        f"seen_at timestamp, reason text, detail text, payload blob, {OLDER_REJECTS[shape]})"
    )
    huge = b"x" * 100_000  # an oversize message, kept whole by older installs
    for offset, payload in ((7, b"{"), (8, huge)):
        cassandra_rows(
            f"INSERT INTO {ks}.rejects (stream, seen_day, topic, partition, offset, seen_at, reason, payload) "
            f"VALUES ('tracking', '2026-11-01', 't', 0, {offset}, '2026-11-01 10:00:00', 'bad_json', 0x{payload.hex()})"
        )
    pipeline.migrate()

    key = cassandra_rows(
        f"SELECT column_name, kind FROM system_schema.columns WHERE keyspace_name = '{ks}' AND table_name = 'rejects'"
    )
    assert sorted((r.column_name, r.kind) for r in key if r.kind != "regular") == [
        ("kafka_day", "partition_key"),
        ("offset", "clustering"),
        ("partition", "partition_key"),
        ("topic", "partition_key"),
    ]
    moved = cassandra_rows(
        f"SELECT topic, partition, kafka_day, offset, stream, reason, payload, payload_bytes, payload_sha256 "
        f"FROM {ks}.rejects"
    )
    kept = pipeline.settings().max_payload_bytes
    assert sorted((r.topic, r.partition, str(r.kafka_day), r.offset, r.stream, r.reason) for r in moved) == [
        ("t", 0, "2026-11-01", 7, "tracking", "bad_json"),
        ("t", 0, "2026-11-01", 8, "tracking", "bad_json"),
    ]
    assert sorted((bytes(r.payload), r.payload_bytes, r.payload_sha256) for r in moved) == sorted(
        (p[:kept], len(p), hashlib.sha256(p).hexdigest()) for p in (b"{", huge)
    )
    assert not cassandra_rows(
        f"SELECT table_name FROM system_schema.tables WHERE keyspace_name = '{ks}' AND table_name = 'rejects_upgrade'"
    )


def cassandra_rows(statement: str) -> list[Any]:
    cluster = stack.cassandra_cluster()
    try:
        return list(cluster.connect().execute(statement))
    finally:
        cluster.shutdown()


def test_a_changed_shard_count_is_refused_before_it_strands_raw_rows(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    pipeline.send(list(factory(44, PLAIN).stream(40, datetime.now(timezone.utc))))
    pipeline.ingest()

    for job in ("migrate", "ingest", "aggregate"):
        done = pipeline.run_main("jobs", job, extra_env={"TIDEMARK_SHARDS": "3"})
        assert done.returncode == 1, (job, done.stderr[-2000:])
        assert "TIDEMARK_SHARDS is 3, but stream tracking keeps its raw rows over 8 shards" in done.stderr, job
        assert "Set TIDEMARK_SHARDS=8" in done.stderr, job
    pipeline.aggregate()
    assert_matches_oracle(pipeline)


def test_offsets_kafka_deleted_before_ingest_read_them_are_counted(
    spark: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    from local import kafka_users

    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    topic = f"{pipeline.name}.tracking"
    now = datetime.now(timezone.utc)
    kept = list(factory(45, PLAIN).stream(60, now))
    pipeline.send(kept)
    pipeline.ingest()

    consumer = KafkaConsumer(**kafka_users.kafka_python(stack.tidemark_env()["TIDEMARK_KAFKA_BOOTSTRAP"]))
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    before = consumer.end_offsets(partitions)
    pipeline.send_payloads([orjson.dumps(b) for b in factory(46, PLAIN).stream(90, now)])
    after = consumer.end_offsets(partitions)
    consumer.close()
    # What retention does to a log while its reader is down: the head moves past unread records.
    admin = KafkaAdminClient(**kafka_users.kafka_python(stack.tidemark_env()["TIDEMARK_KAFKA_BOOTSTRAP"]))
    admin.delete_records({tp: after[tp] for tp in partitions})
    admin.close()
    later = list(factory(47, PLAIN).stream(30, now))
    pipeline.send(later)
    ingested = pipeline.ingest()
    pipeline.aggregate()

    lost = {(topic, tp.partition): after[tp] - before[tp] for tp in partitions if after[tp] > before[tp]}
    assert sum(lost.values()) == 90
    assert dict(ingested.skipped_offsets) == lost
    assert "skipped_offsets (deleted from Kafka before read)=" in ingested.summary()
    pushed = ingested.groups(ok=True, now=0)["tracking"]
    samples = {
        (s.labels["topic"], int(s.labels["partition"])): s.value
        for metric in pushed.collect()
        if metric.name == "tidemark_ingest_skipped_offsets"
        for s in metric.samples
    }
    assert samples == lost
    # Counted as the raw pass read the batch, not by reading it from Kafka a second time.
    assert not [r.message for r in caplog.records if "counting them again" in r.message]
    assert ingested.rows_read == len(later)
    assert_matches_oracle(pipeline)


# Daylight-saving changes, as UTC instants: (zone, when the clocks change, which way).
DST_CHANGES = [
    ("America/New_York", datetime(2026, 3, 8, 7, 0, tzinfo=timezone.utc), "spring"),  # 02:00 EST -> 03:00 EDT
    ("America/New_York", datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc), "autumn"),  # 02:00 EDT -> 01:00 EST
    ("Europe/Berlin", datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc), "spring"),  # 02:00 CET -> 03:00 CEST
    ("Europe/Berlin", datetime(2026, 10, 25, 1, 0, tzinfo=timezone.utc), "autumn"),  # 03:00 CEST -> 02:00 CET
]


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin"])
def test_report_hours_follow_daylight_saving_both_ways(spark: Any, tmp_path: Path, zone: str) -> None:
    pipeline = Pipeline(spark, tmp_path, report_timezone=zone)
    pipeline.migrate()
    rng = random.Random(8)
    beacons = []
    for _, change, _way in [c for c in DST_CHANGES if c[0] == zone]:
        # Every 97 s from two hours before the change to two hours after it.
        for step in range(-74, 75):
            moment = change + timedelta(seconds=97 * step)
            beacon = valid_beacon(step + 100, moment)
            beacons.append({**beacon, "create_time": timeuuid_at(moment, rng), "custom_track": "click", "job_id": 7})
    pipeline.send(beacons)
    pipeline.ingest(raw_ttl_days=0)  # the spring changes are older than the default retention
    pipeline.aggregate()

    assert_matches_oracle(pipeline)
    rows = pipeline.sql("SELECT dates, hours, SUM(clicks) FROM events WHERE job_id = 7 GROUP BY dates, hours")
    clicks = {(day, hour): int(n) for day, hour, n in rows}
    for _, change, way in [c for c in DST_CHANGES if c[0] == zone]:
        day = change.astimezone(ZoneInfo(zone)).date()
        hours = sorted(hour for d, hour in clicks if d == day)
        if way == "spring":
            # Four UTC hours of events in local hours 0, 1, 3 and 4: the skipped 02:00 has no row.
            assert hours == [0, 1, 3, 4], (day, hours)
        else:
            # The hour the clocks repeat (New York 01:00, Berlin 02:00) holds both hours' events.
            repeated = 1 if zone == "America/New_York" else 2
            both = [
                b
                for b in beacons
                if change - timedelta(hours=1) <= event_time(b["create_time"]) < change + timedelta(hours=1)
            ]
            assert clicks[day, repeated] == len(both), (day, clicks)
            assert len(hours) == 3, (day, hours)


def test_a_zone_newer_than_the_jvm_rules_reports_by_the_one_database(spark: Any, tmp_path: Path) -> None:
    """America/Coyhaique came with tzdata 2025b: Python's zoneinfo knows it, and the JVM's
    rules (what Spark's time-zone functions use) may not: only one database is asked."""
    pipeline = Pipeline(spark, tmp_path, report_timezone="America/Coyhaique")
    pipeline.migrate()
    pipeline.send(list(factory(48, PLAIN).stream(200, datetime.now(timezone.utc), spread=timedelta(hours=3))))
    pipeline.ingest()
    pipeline.aggregate()
    assert_matches_oracle(pipeline)


def test_jobs_compute_in_utc_whatever_the_host_and_jvm_zone(spark: Any, tmp_path: Path) -> None:
    """Ingest and aggregate as their own processes on a host 13:45 ahead of UTC, whose JVMs
    default to another zone still: every bucket and hour is the oracle's, in UTC."""
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    pipeline.send(list(factory(47).stream(300, datetime.now(timezone.utc), spread=timedelta(hours=3))))
    far = {"TZ": "Pacific/Chatham", "JAVA_TOOL_OPTIONS": "-Duser.timezone=Pacific/Kiritimati"}
    for job in ("ingest", "aggregate"):
        done = pipeline.run_main("jobs", job, extra_env=far)
        assert done.returncode == 0, (job, done.stderr[-3000:])
    assert_matches_oracle(pipeline)


def test_a_bucket_mysql_refuses_is_set_aside_and_the_rest_go_on(spark: Any, tmp_path: Path) -> None:
    """A target column narrower than what raw holds (an operator's ALTER, say): MySQL refuses
    one bucket's rows (1406). That bucket is set aside, counted and kept dirty; every other
    bucket, before and after it, lands; once the column is wide again the next run stores it."""
    pipeline = Pipeline(spark, tmp_path, streams=("ads",))
    pipeline.migrate()
    pipeline.sql("ALTER TABLE ad_window_stats MODIFY ad_id VARCHAR(5) NOT NULL")
    start = (datetime.now(timezone.utc) - timedelta(minutes=30)).replace(second=0, microsecond=0, tzinfo=None)
    values = []
    for minute in range(12):
        ad = "ad_too_long" if minute == 5 else f"ad_{minute % 3}"
        at = (start + timedelta(minutes=minute, seconds=10)).isoformat()
        values.append(encode_ad({"ad_id": ad, "timestamp": at, "clicks": minute, "views": 10, "cost": 0.5}))
    pipeline.send_messages("ads", [(None, v) for v in values])
    pipeline.ingest()

    first = pipeline.aggregate(aggregate_chunk_buckets=8)

    assert first.stream_values["ads", "buckets_set_aside"] == 1
    stored = {ad for ad, _ in pipeline.ad_windows()}
    assert stored == {"ad_0", "ad_1", "ad_2"}, "every bucket but the refused one, before it and after it"
    left = pipeline.sql("SELECT bucket FROM dirty_buckets WHERE stream = 'ads'")
    assert left == [(start + timedelta(minutes=5),)]
    pipeline.sql("ALTER TABLE ad_window_stats MODIFY ad_id VARCHAR(255) NOT NULL")

    second = pipeline.aggregate()

    assert second.stream_values["ads", "buckets_set_aside"] == 0
    assert pipeline.ad_windows() == {
        k: {c: w[c] for c in AD_WINDOW_COLUMNS} for k, w in expected_windows(values).items()
    }


def ads_minutes(start: datetime, minutes: range, clicks: int) -> list[bytes]:
    """One ad event 10 s into each minute from `start`: one 30-s bucket per minute."""
    return [
        encode_ad(
            {
                "ad_id": f"ad_{minute % 3}",
                "timestamp": (start + timedelta(minutes=minute, seconds=10)).isoformat(),
                "clicks": clicks,
                "views": 10,
                "cost": 0.5,
            }
        )
        for minute in minutes
    ]


def test_a_run_that_lost_its_lock_never_commits_over_a_newer_run(spark: Any, tmp_path: Path) -> None:
    from jobs import aggregate, stream_lock
    from jobs.metrics import RunMetrics
    from jobs.spec import RunContext
    from jobs.stores import mysql_connection, scalar
    from jobs.streams import STREAMS

    pipeline = Pipeline(spark, tmp_path, streams=("ads",))
    pipeline.migrate()
    start = (datetime.now(timezone.utc) - timedelta(minutes=30)).replace(second=0, microsecond=0, tzinfo=None)
    values = ads_minutes(start, range(4), clicks=1)
    pipeline.send_messages("ads", [(None, v) for v in values])
    pipeline.ingest()
    # A run holds the lock and its lease and has chosen its chunk...
    settings = pipeline.settings()
    lock, conn = mysql_connection(settings), mysql_connection(settings)
    name = stream_lock.lock_name(settings, "ads")
    assert stream_lock.acquire(lock, name, 0)
    lock_id = scalar(lock, "SELECT CONNECTION_ID()")
    stale = RunContext("stale", settings, stream_lock.take_lease(conn, "ads", "stale"), name, lock_id)
    marks = aggregate.dirty_marks(conn, "ads", aggregate.newest_mark(conn, "ads"), 100)
    # ...when its lock connection dies (a network cut, a killed session): the lock is free, and
    # a newer run takes it and stores newer events of the same buckets.
    pipeline.sql(f"KILL CONNECTION {lock_id}")
    newer = ads_minutes(start, range(4), clicks=7)
    pipeline.send_messages("ads", [(None, v) for v in newer])
    pipeline.ingest()
    pipeline.aggregate(aggregate_lock_wait_seconds=30)

    with pytest.raises(stream_lock.LockLost, match="lost its lock"):
        aggregate.aggregate_chunk(spark, conn, stale, STREAMS["ads"], marks=marks, metrics=RunMetrics("aggregate"))
    conn.close()

    assert pipeline.ad_windows() == {
        k: {c: w[c] for c in AD_WINDOW_COLUMNS} for k, w in expected_windows(values + newer).items()
    }


def test_a_frozen_run_frees_its_stream_and_cannot_commit_when_it_wakes(spark: Any, tmp_path: Path) -> None:
    """kill -STOP of an aggregate mid-run (a host that froze or vanished): MySQL ends its idle
    lock connection after TIDEMARK_AGGREGATE_LOCK_IDLE_SECONDS, so the next run takes the
    stream; kill -CONT: the frozen run's next commit is refused and it exits non-zero."""
    pipeline = Pipeline(spark, tmp_path, streams=("ads",))
    pipeline.migrate()
    start = (datetime.now(timezone.utc) - timedelta(minutes=40)).replace(second=0, microsecond=0, tzinfo=None)
    values = ads_minutes(start, range(24), clicks=2)
    pipeline.send_messages("ads", [(None, v) for v in values])
    pipeline.ingest()
    env = {
        **os.environ,
        **pipeline.env,
        "TIDEMARK_AGGREGATE_CHUNK_BUCKETS": "1",
        "TIDEMARK_AGGREGATE_LOCK_IDLE_SECONDS": "5",
    }
    frozen = subprocess.Popen(
        [sys.executable, "-m", "jobs", "aggregate"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    said: list[str] = []
    assert frozen.stderr is not None
    for line in frozen.stderr:
        said.append(line)
        if "ads chunk:" in line:
            os.killpg(frozen.pid, signal.SIGSTOP)
            break
    try:
        assert "ads chunk:" in said[-1], "".join(said[-40:])
        pipeline.aggregate(aggregate_lock_wait_seconds=120)
        assert pipeline.ad_windows() == {
            k: {c: w[c] for c in AD_WINDOW_COLUMNS} for k, w in expected_windows(values).items()
        }
    finally:
        os.killpg(frozen.pid, signal.SIGCONT)
    rest = frozen.communicate(timeout=300)[1]
    assert frozen.returncode != 0 and "lost its lock" in rest, rest[-3000:]
    assert pipeline.ad_windows() == {
        k: {c: w[c] for c in AD_WINDOW_COLUMNS} for k, w in expected_windows(values).items()
    }
