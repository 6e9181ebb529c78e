"""Stream `tracking`: the recruitment platform's tracking beacons (DESIGN 4.1).

JSON beacons keyed by their `create_time` timeuuid (the event time and the event id) land in
`tracking_raw` by minute; `tracking_partials` hold exact per-minute sums that roll up into
`analytics.events`, one row per (job, report date, report hour, publisher, campaign, group).
Classification is Spark SQL expressions, not a Python parse: the flagship stream is the
busiest, and expressions keep it in the JVM. Pure transforms only; no I/O here."""

from __future__ import annotations

import functools
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from jobs.parsed import raw_table_ddl
from jobs.spec import AggregateContext, Placement, Rollup, StreamSpec, bucket_of, classified, outside_bounds
from jobs.streams import beacon
from jobs.streams.beacon import (
    BID_SCALE,
    MAX_BID,
    NON_FINITE_BODY,
    PATTERNS,
    TIMEUUID_BODY,
    UUID_EPOCH_OFFSET_TICKS,
)
from wire.formats import BEACON_FIELDS, COUNTED_TRACKS, TOPICS

TRACKING = "tracking"
TRACKING_BUCKET_SECONDS = 60


def _whole(body: str) -> str:
    """A Java regex matching `body` as the whole text (`$` would also pass a final newline)."""
    return rf"^(?:{body})\z"


TIMEUUID_PATTERN = _whole(TIMEUUID_BODY)
NON_FINITE_TOKEN = _whole(NON_FINITE_BODY)
BID_DECIMAL = f"decimal(18,{BID_SCALE})"

# Every field is first read as text, so a wrong type is a reject with a reason rather than a
# silent NULL. A payload that is not one JSON object lands in CORRUPT instead: one parse tells
# both (json_object_keys would parse every payload a second time).
CORRUPT = "_not_a_json_object"
_AS_TEXT = StructType(
    [*(StructField(name, StringType()) for name in BEACON_FIELDS), StructField(CORRUPT, StringType())]
)


# A beacon is exactly one JSON object. Spark's reader stops after the first value and
# ignores what follows (a second object, trailing text), so the shape is checked apart: with
# strings removed, the text must end with the brace that closes the first one.
_JSON_STRING = r'"(?:[^"\\]++|\\.)*+"'


def _one_json_object(text: Column) -> Column:
    """False when `text`, which Spark parsed as an object, holds more than that object."""
    stripped = F.regexp_replace(text, _JSON_STRING, "")
    brackets = F.regexp_replace(stripped, r"[^{}\[\]]+", "")

    def step(depth_zeros: Column, bracket: Column) -> Column:
        depth = depth_zeros["depth"] + F.when(bracket.isin("{", "["), 1).otherwise(-1)
        zeros = depth_zeros["zeros"] + F.when(depth <= 0, 1).otherwise(0)
        return F.struct(depth.alias("depth"), zeros.alias("zeros"))

    start = F.struct(F.lit(0).alias("depth"), F.lit(0).alias("zeros"))
    # Only the last bracket may close the first object; a flat object (most beacons) needs no walk.
    closes_once = F.when(brackets == "{}", True).otherwise(
        F.aggregate(F.split(brackets, ""), start, step)["zeros"] == 1
    )
    # Only JSON's own whitespace may follow (Java's \s and $ would pass more).
    return stripped.rlike(r"\}[ \t\n\r]*\z") & closes_once


def _duplicate_key(keys: Column) -> Column:
    """`duplicate key 'name'` for the first key of `keys` given more than once."""
    twice = F.filter(keys, lambda k: F.size(F.filter(keys, lambda other: other == k)) > 1)
    return F.format_string("duplicate key '%s'", F.substring(twice[0], 1, 64))


def timeuuid_micros(uuid_text: Column) -> Column:
    """Microseconds since the Unix epoch encoded in a version-1 UUID (lower-case text)."""
    ticks_hex = F.concat(F.substring(uuid_text, 16, 3), F.substring(uuid_text, 10, 4), F.substring(uuid_text, 1, 8))
    # Exact integer arithmetic: ticks since 1970 pass 2^53, where a double (what `/` on longs
    # gives) rounds, and one event in a dozen would land a microsecond off, maybe in the
    # next bucket. Decimals divide exactly.
    ticks = F.conv(ticks_hex, 16, 10).cast("decimal(20,0)")
    return F.floor((ticks - F.lit(UUID_EPOCH_OFFSET_TICKS).cast("decimal(20,0)")) / 10).cast("long")


def _bid_error(bid: Column) -> Column:
    """The reject reason of a bid (a double) that is not money, NULL for a good or absent bid.
    Non-finite includes text like "1e400", which parses to infinity."""
    return (
        F.when(F.isnan(bid) | (F.abs(bid) == float("inf")), "non_finite_number")
        .when(bid < 0, "negative_value")
        .when(bid > MAX_BID, "out_of_range")
    )


def _blank_to_null(text: Column) -> Column:
    return F.when(F.trim(text) == "", F.lit(None)).otherwise(text)


def _type_error(name: str, text: Column) -> Column:
    """A `name='value'` note when the field holds something that is not its declared type."""
    kind = BEACON_FIELDS[name]
    if kind not in PATTERNS:
        return F.lit(None)
    value = _blank_to_null(text)
    wrong = value.isNotNull() & ~value.rlike(_whole(PATTERNS[kind]))
    if kind == "double":  # a non-finite number token is a number: its range check judges it
        wrong &= ~value.rlike(NON_FINITE_TOKEN)
    return F.when(wrong, F.format_string(f"{name}=%s", F.substring(value, 1, 64)))


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
    # Projections in steps, each computing its values once: Spark keeps them apart rather than
    # repeating a costly expression (the JSON parse, the timeuuid's time) in every column
    # that uses it.
    text = F.col("value").cast("string")
    # Strict JSON: single-quoted strings are not JSON (Spark allows them by default).
    beacon = F.from_json(text, _AS_TEXT, {"columnNameOfCorruptRecord": CORRUPT, "allowSingleQuotes": "false"})
    decoded = records.select(
        "topic",
        "partition",
        "offset",
        "timestamp",
        F.col("value").alias("payload"),
        F.length("value").alias("payload_bytes"),
        text.alias("text"),
        beacon.alias("b"),
        # The object's own keys in order: Spark's reader keeps a key's last value silently.
        F.json_object_keys(text).alias("keys"),
    )
    # Spark's cast keeps bytes that are not UTF-8 as they are (its JSON reader then reads them
    # as U+FFFD); Java's decoder replaces them, so a round trip through it changes the bytes.
    invalid_utf8 = F.encode(F.decode("payload", "UTF-8"), "UTF-8") != F.col("payload")
    unparsed = F.col("b").isNull() | F.col(f"b.{CORRUPT}").isNotNull()
    parsed = decoded.select(
        "topic",
        "partition",
        "offset",
        "timestamp",
        "payload",
        "payload_bytes",
        # Why the payload is not one JSON object ("" when Spark could not parse it); NULL if it is.
        F.when(invalid_utf8, "invalid UTF-8")
        .when(unparsed, "")
        .when(~_one_json_object(F.col("text")), "text after the JSON object")
        .when(F.size(F.array_distinct("keys")) < F.size("keys"), _duplicate_key(F.col("keys")))
        .alias("not_json_object"),
        F.lower(F.trim(F.col("b.create_time"))).alias("create_time"),
        *[F.col(f"b.{name}").alias(f"b_{name}") for name in BEACON_FIELDS if name != "create_time"],
    )
    create_time = F.col("create_time")
    field = {name: create_time if name == "create_time" else F.col(f"b_{name}") for name in BEACON_FIELDS}
    timed = parsed.select(
        "*",
        timeuuid_micros(create_time).alias("micros"),
        F.coalesce(*[_type_error(name, field[name]) for name in BEACON_FIELDS]).alias("type_error"),
    )
    micros, type_error = F.col("micros"), F.col("type_error")
    bid_token = F.when(F.col("b_bid").rlike(NON_FINITE_TOKEN), F.expr("substring(b_bid, 2, length(b_bid) - 2)"))
    bid_error = _bid_error(F.coalesce(bid_token, _blank_to_null(F.col("b_bid"))).cast("double"))
    placement = Placement(now, shards, max_payload_bytes, max_future_seconds, raw_ttl_days)

    reason = (
        F.when(F.col("payload_bytes") > max_payload_bytes, "oversize")
        .when(F.col("not_json_object").isNotNull(), "bad_json")
        .when(_blank_to_null(create_time).isNull(), "missing_create_time")
        .when(~create_time.rlike(TIMEUUID_PATTERN), "bad_create_time")
        .when(type_error.isNotNull(), "invalid_type")
        .when(bid_error.isNotNull(), bid_error)
        # Last, as the engine judges every stream's time after its parse (jobs/streams/beacon.py).
        .when(outside_bounds(micros, placement), "absurd_time")
    )
    typed = [
        create_time.alias(name)
        if kind == "timeuuid"
        else field[name].alias(name)
        if kind == "text"
        else _blank_to_null(field[name]).cast(kind).alias(name)
        for name, kind in BEACON_FIELDS.items()
    ]
    judged = timed.select("*", reason.alias("reason"))
    reason = F.col("reason")
    detail = (
        F.when(reason == "oversize", F.format_string(f"%d bytes > {max_payload_bytes}", "payload_bytes"))
        .when(reason == "bad_json", F.nullif(F.col("not_json_object"), F.lit("")))
        .when(reason == "bad_create_time", F.format_string("create_time=%s", F.substring(create_time, 1, 64)))
        .when(reason == "absurd_time", F.format_string("event time %s", F.timestamp_micros(micros).cast("string")))
        .when(reason == "invalid_type", type_error)
        .when(reason == bid_error, F.format_string("bid=%s", F.substring(F.col("b_bid"), 1, 64)))
    )
    return judged.select(
        *classified(
            reason=reason,
            detail=detail,
            bucket=bucket_of(micros, TRACKING_BUCKET_SECONDS),
            shard=F.pmod(F.xxhash64(create_time), F.lit(shards)),
            event_time=F.timestamp_micros(micros),
        ),
        *typed,
    )


def _positive(column: Column) -> Column:
    return F.when(column > 0, column)


def attributed(raw: DataFrame) -> DataFrame:
    """Raw beacons with job and publisher recovered from `ed` when missing at top level,
    and each one's `kind`: a counted track, `impression`, or `other`."""
    ed_job = F.get_json_object("ed", "$.jobId").cast("int")
    ed_publisher = F.get_json_object("ed", "$.publisherId").cast("int")
    return raw.select(
        "bucket",
        "event_time",
        "bid",
        F.coalesce(_positive(F.col("job_id")), _positive(ed_job)).alias("job_id"),
        F.coalesce(_positive(F.col("publisher_id")), _positive(ed_publisher), F.lit(0)).alias("publisher_id"),
        F.coalesce(F.col("campaign_id"), F.lit(0)).alias("campaign_id"),
        F.coalesce(F.col("group_id"), F.lit(0)).alias("group_id"),
        track_kind().alias("kind"),
    )


def track_kind() -> Column:
    """A counted track, `impression` (no track) or `other`."""
    track = F.lower(F.trim(F.coalesce(F.col("custom_track"), F.lit(""))))
    kind = F.when(track == "", "impression")
    for value in COUNTED_TRACKS:
        kind = kind.when(track == value, value)
    return kind.otherwise("other")


def tracking_partials(beacons: DataFrame, report_hours: DataFrame) -> DataFrame:
    """Exact per-bucket sums and counts for each (job, publisher, campaign, group), with the
    bucket's report date and hour (`report_hours`, see AggregateContext). Sums, never
    averages, so hours roll up exactly."""
    counted = beacons.where(F.col("job_id").isNotNull() & (F.col("kind") != "other")).join(report_hours, "bucket")
    is_click_bid = (F.col("kind") == "click") & F.col("bid").isNotNull()

    def count_of(kind: str) -> Column:
        return F.sum(F.when(F.col("kind") == kind, 1).otherwise(0)).cast("int")

    return counted.groupBy(
        "bucket",
        "job_id",
        "publisher_id",
        "campaign_id",
        "group_id",
        "dates",
        "hours",
    ).agg(
        *[count_of(track).alias(column) for track, column in COUNTED_TRACKS.items()],
        count_of("impression").alias("impressions"),
        # try_cast-like: a bid stored before bids were checked cannot fail the sum (Spark's
        # non-ANSI cast gives NULL for a value outside the decimal), it only loses its spend.
        F.coalesce(F.sum(F.when(is_click_bid, F.col("bid").cast(BID_DECIMAL))), F.lit(0))
        .cast(f"decimal(24,{BID_SCALE})")
        .alias("bid_sum"),
        F.sum(F.when(is_click_bid, 1).otherwise(0)).cast("int").alias("bid_count"),
    )


# --- the spec ---------------------------------------------------------------------------------


def classify(records: DataFrame, placement: Placement) -> DataFrame:
    return classify_records(
        records,
        now=placement.now,
        shards=placement.shards,
        max_payload_bytes=placement.max_payload_bytes,
        max_future_seconds=placement.max_future_seconds,
        raw_ttl_days=placement.retention_days,
    )


def partials(raw: DataFrame, context: AggregateContext) -> DataFrame:
    return tracking_partials(attributed(raw), context.report_hours)


def counted() -> Column:
    """Freshness follows the beacons that reach `events`: those with a job."""
    ed_job = F.get_json_object("ed", "$.jobId").cast("int")
    return F.coalesce(_positive(F.col("job_id")), _positive(ed_job)).isNotNull()


# Every value `kind` gives.
KINDS = ("unattributed", "impression", *COUNTED_TRACKS, "other")


def kind() -> Column:
    """A beacon's kind as the run metrics count it: `unattributed` when it has no job."""
    return F.when(~counted(), "unattributed").otherwise(track_kind())


def mysql_ddl(database: str) -> list[str]:
    return [
        # Exact per-bucket partials (sums and counts) that the hourly rows are rolled up from.
        f"""CREATE TABLE IF NOT EXISTS `{database}`.tracking_partials (
  bucket DATETIME NOT NULL,
  job_id INT NOT NULL,
  publisher_id INT NOT NULL,
  campaign_id INT NOT NULL,
  group_id INT NOT NULL,
  dates DATE NOT NULL,
  hours TINYINT NOT NULL,
  clicks INT NOT NULL,
  conversion INT NOT NULL,
  qualified_application INT NOT NULL,
  disqualified_application INT NOT NULL,
  impressions INT NOT NULL,
  bid_sum DECIMAL(24,6) NOT NULL,
  bid_count INT NOT NULL,
  PRIMARY KEY (bucket, job_id, publisher_id, campaign_id, group_id),
  KEY by_hour (dates, hours)
)""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.events (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  job_id INT NOT NULL,
  dates DATE NOT NULL,
  hours TINYINT NOT NULL,
  disqualified_application INT NOT NULL DEFAULT 0,
  qualified_application INT NOT NULL DEFAULT 0,
  conversion INT NOT NULL DEFAULT 0,
  company_id INT NOT NULL DEFAULT 0,
  group_id INT NOT NULL DEFAULT 0,
  campaign_id INT NOT NULL DEFAULT 0,
  publisher_id INT NOT NULL DEFAULT 0,
  bid_set DECIMAL(24,6) NULL,
  clicks INT NOT NULL DEFAULT 0,
  impressions INT NOT NULL DEFAULT 0,
  spend_hour DECIMAL(24,6) NOT NULL DEFAULT 0,
  sources VARCHAR(32) NOT NULL DEFAULT 'tracking',
  updated_at DATETIME(6) NOT NULL,
  UNIQUE KEY natural_key (job_id, dates, hours, publisher_id, campaign_id, group_id),
  KEY by_hour (dates, hours),
  KEY by_company (company_id)
)""",
    ]


# A partial's key within its hour, the hour, and what it sums (tracking_partials' columns).
KEY = ("job_id", "publisher_id", "campaign_id", "group_id")
PERIOD = ("dates", "hours")
MEASURES = (
    *COUNTED_TRACKS.values(),
    "impressions",
    "bid_sum",
    "bid_count",
)

# The hourly rows of some report hours, from their totals ({source}: one row per key and hour,
# kept as the partials change). updated_at is assigned first so it still compares the old
# values: it moves only when a number changes.
ROLL_UP_HOURS = """
INSERT INTO events (job_id, dates, hours, publisher_id, campaign_id, group_id, company_id,
                    clicks, conversion, qualified_application, disqualified_application, impressions,
                    spend_hour, bid_set, sources, updated_at)
SELECT p.job_id, p.dates, p.hours, p.publisher_id, p.campaign_id, p.group_id,
       COALESCE(MAX(d.company_id), 0),
       SUM(p.clicks), SUM(p.conversion), SUM(p.qualified_application),
       SUM(p.disqualified_application), SUM(p.impressions),
       SUM(p.bid_sum), IF(SUM(p.bid_count) > 0, SUM(p.bid_sum) / SUM(p.bid_count), NULL),
       'tracking', NOW(6)
FROM {source} p LEFT JOIN job_dim d ON d.job_id = p.job_id
WHERE (p.dates, p.hours) IN ({periods})
GROUP BY p.job_id, p.dates, p.hours, p.publisher_id, p.campaign_id, p.group_id
ON DUPLICATE KEY UPDATE
  updated_at = IF(clicks <=> VALUES(clicks) AND conversion <=> VALUES(conversion)
                  AND qualified_application <=> VALUES(qualified_application)
                  AND disqualified_application <=> VALUES(disqualified_application)
                  AND impressions <=> VALUES(impressions) AND spend_hour <=> VALUES(spend_hour)
                  AND bid_set <=> VALUES(bid_set) AND company_id <=> VALUES(company_id),
                  updated_at, VALUES(updated_at)),
  company_id = VALUES(company_id),
  clicks = VALUES(clicks), conversion = VALUES(conversion),
  qualified_application = VALUES(qualified_application),
  disqualified_application = VALUES(disqualified_application),
  impressions = VALUES(impressions), spend_hour = VALUES(spend_hour), bid_set = VALUES(bid_set)
"""

STREAM = StreamSpec(
    name=TRACKING,
    topics=(TOPICS["tracking"],),
    bucket_seconds=TRACKING_BUCKET_SECONDS,
    raw_table="tracking_raw",
    raw_columns=("bucket", "shard", "event_time", *BEACON_FIELDS),
    # The event id (a timeuuid) is the identity: a replayed beacon overwrites itself.
    cassandra_ddl=functools.partial(raw_table_ddl, "tracking_raw", tuple(BEACON_FIELDS.items()), ("create_time",)),
    mysql_ddl=mysql_ddl,
    classify=classify,
    # The same judgement in plain Python, the reference `classify` is checked against.
    parse=beacon.parse,
    partials=partials,
    rollup=Rollup(
        table="events",
        partials_table="tracking_partials",
        partial_columns=("bucket", *KEY, *PERIOD, *MEASURES),
        key=KEY,
        period=PERIOD,
        upsert=ROLL_UP_HOURS,
        # Every measure is a count or a DECIMAL sum: the hour's totals are kept as chunks change
        # their buckets, so a cycle late in the hour reads no more than one early in it.
        keeps_totals=True,
    ),
    counted=counted,
    aggregate_columns=("bid", "job_id", "publisher_id", "campaign_id", "group_id", "custom_track", "ed"),
    kind=kind,
    kinds=KINDS,
)
