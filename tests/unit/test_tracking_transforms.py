"""The pure tracking transforms on tiny inline frames (a local Spark, no servers)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import orjson
from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from jobs.aggregate import report_hours_frame
from jobs.streams.tracking import KINDS, attributed, classify_records, kind, tracking_partials
from producer.beacons import timeuuid_at

from .conftest import records

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def classify(spark: SparkSession, payloads: list[bytes]) -> list[tuple[str | None, str | None]]:
    frame = classify_records(
        records(spark, payloads),  # type: ignore[arg-type]
        now=NOW.replace(tzinfo=None),
        shards=4,
        max_payload_bytes=1000,
        max_future_seconds=3600,
        raw_ttl_days=30,
    )
    return [(r.reason, r.detail) for r in frame.orderBy("offset").collect()]


def test_should_give_each_bad_record_its_reason(spark: SparkSession) -> None:
    rng = random.Random(1)
    ok = timeuuid_at(NOW, rng)
    got = classify(
        spark,
        [
            orjson.dumps({"create_time": ok, "job_id": 3, "bid": "2.5"}),
            b"not json",
            b"[1, 2]",
            orjson.dumps({"job_id": 3}),
            orjson.dumps({"create_time": "1234"}),
            orjson.dumps({"create_time": timeuuid_at(datetime(2020, 1, 1, tzinfo=timezone.utc), rng)}),
            orjson.dumps({"create_time": ok, "job_id": 3.5}),
            orjson.dumps({"create_time": ok, "ua": "x" * 2000}),
        ],
    )
    assert got == [
        (None, None),
        ("bad_json", None),
        ("bad_json", None),
        ("missing_create_time", None),
        ("bad_create_time", "create_time=1234"),
        ("absurd_time", "event time 2020-01-01 00:00:00"),
        ("invalid_type", "job_id=3.5"),
        ("oversize", f"{len(orjson.dumps({'create_time': ok, 'ua': 'x' * 2000}))} bytes > 1000"),
    ]


def test_should_reject_a_bid_that_is_not_money(spark: SparkSession) -> None:
    ok = timeuuid_at(NOW, random.Random(3))
    bids: list[object] = ["-5", -0.01, "1e400", 1e300, "1000000.5", 1_000_000, "0", 0.1]
    got = classify(spark, [orjson.dumps({"create_time": ok, "bid": bid}) for bid in bids])
    assert got == [
        ("negative_value", "bid=-5"),
        ("negative_value", "bid=-0.01"),
        ("non_finite_number", "bid=1e400"),
        ("out_of_range", "bid=1.0E300"),
        ("out_of_range", "bid=1000000.5"),
        (None, None),
        (None, None),
        (None, None),
    ]


def test_should_place_a_beacon_in_its_minute_bucket(spark: SparkSession) -> None:
    moment = datetime(2026, 11, 22, 11, 59, 59, 999000, tzinfo=timezone.utc)
    frame = classify_records(
        records(spark, [orjson.dumps({"create_time": timeuuid_at(moment, random.Random(2))})]),  # type: ignore[arg-type]
        now=NOW.replace(tzinfo=None),
        shards=4,
        max_payload_bytes=1000,
        max_future_seconds=3600,
        raw_ttl_days=30,
    )
    row = frame.first()
    assert row.bucket == datetime(2026, 11, 22, 11, 59)
    assert 0 <= row.shard < 4


def test_should_sum_partials_per_bucket_and_recover_jobs_from_ed(spark: SparkSession) -> None:
    bucket = datetime(2026, 11, 22, 23, 10)
    raw = spark.createDataFrame(
        [
            (bucket, bucket, 0.1, 7, 1, 5, 6, "click", None),
            (bucket, bucket, 0.2, 7, 1, 5, 6, "click", None),  # 0.1 + 0.2 is 0.3 in money
            (bucket, bucket, None, 7, 1, 5, 6, "click", None),  # a null bid is not a zero
            (bucket, bucket, 4.0, 7, 1, 5, 6, "", None),  # a bid on a page view is no spend
            (bucket, bucket, 3.0, None, None, 5, 6, "click", '{"jobId": 7, "publisherId": 1}'),
            (bucket, bucket, None, None, 2, 5, 6, "conversion", "{}"),  # unattributed
            (bucket, bucket, None, 7, 1, 5, 6, "alive", None),  # other: raw only
        ],
        "bucket timestamp, event_time timestamp, bid double, job_id int, publisher_id int, "
        "campaign_id int, group_id int, custom_track string, ed string",
    )
    got = tracking_partials(attributed(raw), report_hours_frame(spark, [bucket], "Asia/Ho_Chi_Minh"))
    want = spark.createDataFrame(
        [(bucket, 7, 1, 5, 6, date(2026, 11, 23), 6, 4, 0, 0, 0, 1, Decimal("3.300000"), 3)],
        "bucket timestamp, job_id int, publisher_id int, campaign_id int, group_id int, dates date, hours int, "
        "clicks int, conversion int, qualified_application int, disqualified_application int, impressions int, "
        "bid_sum decimal(24,6), bid_count int",
    )
    assertDataFrameEqual(got, want)


def test_should_read_the_exact_microsecond_of_every_timeuuid(spark: SparkSession) -> None:
    from jobs.streams.tracking import timeuuid_micros

    rng = random.Random(7)
    start = datetime(2026, 11, 22, tzinfo=timezone.utc)
    moments = [start + timedelta(microseconds=rng.randrange(10**12)) for _ in range(2000)]
    # The edges of a minute bucket too: the last microsecond before it and its first.
    moments += [
        datetime(2026, 11, 22, 12, 0, 59, 999_999, tzinfo=timezone.utc),
        datetime(2026, 11, 22, 12, 1, tzinfo=timezone.utc),
    ]
    uuids = [timeuuid_at(m, rng) for m in moments]
    frame = spark.createDataFrame([(u,) for u in uuids], "create_time string")
    got = [row.micros for row in frame.select(timeuuid_micros(frame.create_time).alias("micros")).collect()]
    want = [(m - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1) for m in moments]
    off = [(u, g, w) for u, g, w in zip(uuids, got, want, strict=True) if g != w]
    assert not off, f"{len(off)} of {len(uuids)} timeuuids read a different microsecond, e.g. {off[:3]}"


def test_should_give_only_the_kinds_the_spec_lists(spark: SparkSession) -> None:
    tracks = [None, "", " Click ", "conversion", "QUALIFIED", "unqualified", "alive", "x"]
    rows = [(job, track, ed) for job in (7, None, -1) for track in tracks for ed in (None, '{"jobId": 3}')]
    raw = spark.createDataFrame(rows, "job_id int, custom_track string, ed string")
    got = {row.k for row in raw.select(kind().alias("k")).distinct().collect()}
    assert got == set(KINDS)
