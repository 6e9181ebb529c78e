"""Pure DataFrame transforms of the tracking stream: Kafka records to validated raw rows and
rejects, and raw rows to exact per-bucket partials. No I/O here."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from jobs.schema import BEACON_FIELDS, COUNTED_TRACKS, TRACKING, TRACKING_BUCKET_SECONDS

# 100-ns intervals between the UUID epoch (1582-10-15) and the Unix epoch.
UUID_EPOCH_OFFSET_TICKS = 122_192_928_000_000_000
TIMEUUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
INT_PATTERN = r"^-?[0-9]{1,9}$"
DOUBLE_PATTERN = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"

# Every field is first read as text, so a wrong type is a reject with a reason rather than a
# silent NULL.
_AS_TEXT = StructType([StructField(name, StringType()) for name in BEACON_FIELDS])


def timeuuid_micros(uuid_text: Column) -> Column:
    """Microseconds since the Unix epoch encoded in a version-1 UUID (lower-case text)."""
    ticks_hex = F.concat(F.substring(uuid_text, 16, 3), F.substring(uuid_text, 10, 4), F.substring(uuid_text, 1, 8))
    ticks = F.conv(ticks_hex, 16, 10).cast("long")
    return F.floor((ticks - F.lit(UUID_EPOCH_OFFSET_TICKS)) / 10).cast("long")


def bucket_of(event_micros: Column, bucket_seconds: int) -> Column:
    seconds = F.floor(event_micros / 1_000_000 / bucket_seconds) * bucket_seconds
    return F.timestamp_seconds(seconds)


def _blank_to_null(text: Column) -> Column:
    return F.when(F.trim(text) == "", F.lit(None)).otherwise(text)


def _type_error(name: str, text: Column) -> Column:
    """A `name='value'` note when the field holds something that is not its declared type."""
    kind = BEACON_FIELDS[name]
    pattern = {"int": INT_PATTERN, "double": DOUBLE_PATTERN}.get(kind)
    if pattern is None:
        return F.lit(None)
    value = _blank_to_null(text)
    return F.when(value.isNotNull() & ~value.rlike(pattern), F.format_string(f"{name}=%s", F.substring(value, 1, 64)))


def classify_records(
    records: DataFrame,
    *,
    now: datetime,
    shards: int,
    max_payload_bytes: int,
    max_future_seconds: int,
    raw_ttl_days: int,
) -> DataFrame:
    """Kafka records (value, topic, partition, offset) with each beacon parsed, typed and
    either placed (bucket, shard, event_time) or given a reject `reason` and `detail`."""
    text = F.col("value").cast("string")
    beacon = F.from_json(text, _AS_TEXT)
    parsed = records.select(
        "topic",
        "partition",
        "offset",
        F.col("value").alias("payload"),
        F.length("value").alias("payload_bytes"),
        F.json_object_keys(text).isNull().alias("not_json_object"),
        beacon.alias("b"),
    )
    create_time = F.lower(F.trim(F.col("b.create_time")))
    micros = timeuuid_micros(create_time)
    now_micros = int(now.timestamp() * 1_000_000)
    oldest_micros = now_micros - raw_ttl_days * 86_400 * 1_000_000
    newest_micros = now_micros + max_future_seconds * 1_000_000
    type_error = F.coalesce(*[_type_error(name, F.col(f"b.{name}")) for name in BEACON_FIELDS])

    reason = (
        F.when(F.col("payload_bytes") > max_payload_bytes, "oversize")
        .when(F.col("not_json_object"), "bad_json")
        .when(_blank_to_null(create_time).isNull(), "missing_create_time")
        .when(~create_time.rlike(TIMEUUID_PATTERN), "bad_create_time")
        .when((micros < oldest_micros) | (micros > newest_micros), "absurd_time")
        .when(type_error.isNotNull(), "invalid_type")
    )
    detail = (
        F.when(reason == "oversize", F.format_string(f"%d bytes > {max_payload_bytes}", "payload_bytes"))
        .when(reason == "bad_create_time", F.format_string("create_time=%s", F.substring(create_time, 1, 64)))
        .when(reason == "absurd_time", F.format_string("event time %s", F.timestamp_micros(micros).cast("string")))
        .when(reason == "invalid_type", type_error)
    )
    typed = [
        create_time.alias(name)
        if kind == "timeuuid"
        else F.col(f"b.{name}").alias(name)
        if kind == "text"
        else _blank_to_null(F.col(f"b.{name}")).cast(kind).alias(name)
        for name, kind in BEACON_FIELDS.items()
    ]
    return parsed.select(
        "topic",
        "partition",
        "offset",
        "payload",
        reason.alias("reason"),
        detail.alias("detail"),
        bucket_of(micros, TRACKING_BUCKET_SECONDS).alias("bucket"),
        F.pmod(F.xxhash64(create_time), F.lit(shards)).cast("int").alias("shard"),
        F.timestamp_micros(micros).alias("event_time"),
        *typed,
    )


def raw_rows(classified: DataFrame) -> DataFrame:
    """The valid beacons, shaped as the `tracking_raw` table."""
    return classified.where(F.col("reason").isNull()).select("bucket", "shard", "event_time", *BEACON_FIELDS)


def reject_rows(classified: DataFrame, now: datetime) -> DataFrame:
    """The rejected records, shaped as the `rejects` table, with the raw bytes kept."""
    return classified.where(F.col("reason").isNotNull()).select(
        F.lit(TRACKING).alias("stream"),
        F.lit(now.date()).alias("seen_day"),
        "topic",
        "partition",
        "offset",
        F.lit(now).cast("timestamp").alias("seen_at"),
        "reason",
        "detail",
        "payload",
    )


def _positive(column: Column) -> Column:
    return F.when(column > 0, column)


def attributed(raw: DataFrame) -> DataFrame:
    """Raw beacons with job and publisher recovered from `ed` when missing at top level,
    and each one's `kind`: a counted track, `impression`, or `other`."""
    ed_job = F.get_json_object("ed", "$.jobId").cast("int")
    ed_publisher = F.get_json_object("ed", "$.publisherId").cast("int")
    track = F.lower(F.trim(F.coalesce(F.col("custom_track"), F.lit(""))))
    kind = F.when(track == "", "impression")
    for value in COUNTED_TRACKS:
        kind = kind.when(track == value, value)
    return raw.select(
        "bucket",
        "event_time",
        "bid",
        F.coalesce(_positive(F.col("job_id")), _positive(ed_job)).alias("job_id"),
        F.coalesce(_positive(F.col("publisher_id")), _positive(ed_publisher), F.lit(0)).alias("publisher_id"),
        F.coalesce(F.col("campaign_id"), F.lit(0)).alias("campaign_id"),
        F.coalesce(F.col("group_id"), F.lit(0)).alias("group_id"),
        kind.otherwise("other").alias("kind"),
    )


def kind_counts(beacons: DataFrame) -> DataFrame:
    """How many beacons of each kind, and how many have no job (unattributed)."""
    return (
        beacons.select(F.when(F.col("job_id").isNull(), "unattributed").otherwise(F.col("kind")).alias("kind"))
        .groupBy("kind")
        .count()
    )


def tracking_partials(beacons: DataFrame, report_timezone: str) -> DataFrame:
    """Exact per-bucket sums and counts for each (job, publisher, campaign, group), with the
    bucket's report-time-zone date and hour. Sums, never averages, so hours roll up exactly."""
    local = F.from_utc_timestamp("bucket", report_timezone)
    counted = beacons.where(F.col("job_id").isNotNull() & (F.col("kind") != "other"))
    is_click_bid = (F.col("kind") == "click") & F.col("bid").isNotNull()

    def count_of(kind: str) -> Column:
        return F.sum(F.when(F.col("kind") == kind, 1).otherwise(0)).cast("int")

    return counted.groupBy(
        "bucket",
        "job_id",
        "publisher_id",
        "campaign_id",
        "group_id",
        F.to_date(local).alias("dates"),
        F.hour(local).alias("hours"),
    ).agg(
        *[count_of(track).alias(column) for track, column in COUNTED_TRACKS.items()],
        count_of("impression").alias("impressions"),
        F.coalesce(F.sum(F.when(is_click_bid, F.col("bid"))), F.lit(0.0)).alias("bid_sum"),
        F.sum(F.when(is_click_bid, 1).otherwise(0)).cast("int").alias("bid_count"),
    )
