"""Stream `ads`: ad events in 1-minute windows sliding every 30 s (DESIGN 4.2).

The wire contract is the one existing ad producers speak: topic `ad_topic`, key = the ad id,
value = the Confluent wire format (byte 0, a 4-byte big-endian schema id, then the Avro binary
of `AdEvent`). There is no event id: identity is the message as written (schema id and bytes),
so a byte-identical re-send counts once at any distance, and two records that differ in any
field, even one outside the reader's schema (a newer writer's), are two events.

Raw events land in `ads_raw` by 30-s bucket. Each bucket's exact per-ad sums go to
`ad_window_partials` twice, once for each window holding it (the windows starting at the bucket
and 30 s before), and each window of `analytics.ad_window_stats` is the sum of its two buckets.
Costs are summed as DECIMAL(…, 6) of each cost's shortest decimal form, so totals never drift.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import struct
from typing import Any

import fastavro
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, LongType, StringType

from jobs.parsed import cql_columns, raw_table_ddl
from jobs.registry import writer_schema
from jobs.spec import (
    AggregateContext,
    ParseResult,
    Placement,
    Reject,
    Rollup,
    StreamSpec,
    iso_instant,
    python_classifier,
)
from wire.formats import AD_EVENT_SCHEMA, TOPICS

ADS = "ads"
BUCKET_SECONDS = 30
WINDOW_SECONDS = 60
MAX_AD_ID_CHARS = 255
COST_SCALE = 6  # decimal places a cost keeps when summed
# One event's cost at most, so no sum can overflow: each cost is cast to DECIMAL(24,6) (below
# 1e18) and a bucket's sum to DECIMAL(28,6); 1e12 leaves room for 1e10 events per ad and bucket.
MAX_COST = 1e12
MAX_COUNT = 2**31 - 1  # an Avro int; a hand-made frame can carry a longer varint

BUILT_IN = fastavro.parse_schema(AD_EVENT_SCHEMA)


def event_id(payload: bytes) -> str:
    """The message's identity: a digest of its bytes as written (frame, schema id and body)."""
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


def _record_of(body: bytes, writer: Any) -> dict[str, Any] | Reject:
    stream = io.BytesIO(body)
    try:
        reader = None if writer is BUILT_IN else BUILT_IN
        record = fastavro.schemaless_reader(stream, writer, reader)
    except fastavro.read.SchemaResolutionError as e:
        return Reject("incompatible_schema", str(e)[:200])
    except Exception as e:  # noqa: BLE001 - every way a body fails to decode is a reject
        return Reject("bad_avro", f"{type(e).__name__}: {e}"[:200])
    left = len(body) - stream.tell()
    if left:
        return Reject("bad_avro", f"{left} trailing bytes")
    if not isinstance(record, dict):
        return Reject("bad_avro", "not a record")
    return record


def parse(payload: bytes, registry_url: str = "", registry_wait_seconds: float = 0) -> ParseResult:
    """One Kafka message value to its one raw row, or a reject with the reason. Raises
    `RegistryUnavailable` (the batch fails) when the registry does not answer in time."""
    if len(payload) < 5:
        return Reject("too_short", f"{len(payload)} bytes")
    if payload[0] != 0:
        return Reject("bad_magic_byte", f"magic byte {payload[0]}")
    (schema_id,) = struct.unpack(">I", payload[1:5])
    writer = writer_schema(registry_url, schema_id, registry_wait_seconds) if registry_url else BUILT_IN
    if writer is None:
        return Reject("unknown_schema_id", f"schema id {schema_id}")
    record = _record_of(payload[5:], writer)
    if isinstance(record, Reject):
        return record
    if not record["ad_id"] or len(record["ad_id"]) > MAX_AD_ID_CHARS:
        return Reject("bad_ad_id", f"{len(record['ad_id'])} characters")
    try:
        moment = iso_instant(record["timestamp"])
    except OverflowError:  # an offset that moves the time past year 9999 or before year 1
        moment = None
    if moment is None:
        return Reject("bad_timestamp", f"timestamp={record['timestamp'][:64]}")
    if not math.isfinite(record["cost"]):
        return Reject("non_finite_cost", f"cost={record['cost']}")
    for name in ("clicks", "views", "cost"):
        if record[name] < 0:
            return Reject("negative_value", f"{name}={record[name]}")
    for name, most in (("clicks", MAX_COUNT), ("views", MAX_COUNT), ("cost", MAX_COST)):
        if record[name] > most:
            return Reject("out_of_range", f"{name}={record[name]}")
    return [
        {
            "event_time": moment,
            "event_id": event_id(payload),
            "ad_id": record["ad_id"],
            "timestamp_text": record["timestamp"],
            "clicks": record["clicks"],
            "views": record["views"],
            "cost": record["cost"],
            "schema_id": schema_id,
        }
    ]


RAW_FIELDS = (
    ("event_id", StringType()),
    ("ad_id", StringType()),
    ("timestamp_text", StringType()),
    ("clicks", IntegerType()),
    ("views", IntegerType()),
    ("cost", DoubleType()),
    ("schema_id", LongType()),
)


def classify(records: DataFrame, placement: Placement) -> DataFrame:
    parse_with = functools.partial(
        parse,
        registry_url=placement.schema_registry_url,
        registry_wait_seconds=placement.schema_registry_wait_seconds,
    )
    return python_classifier(parse_with, RAW_FIELDS, "event_id", BUCKET_SECONDS)(records, placement)


def window_partials(raw: DataFrame, _context: AggregateContext) -> DataFrame:
    """Exact per-(bucket, ad) sums, once for each of the two windows that hold the bucket."""
    per_bucket = raw.groupBy("bucket", "ad_id").agg(
        F.sum("clicks").cast("long").alias("clicks"),
        F.sum("views").cast("long").alias("views"),
        F.sum(F.col("cost").cast(f"decimal(24,{COST_SCALE})")).cast(f"decimal(28,{COST_SCALE})").alias("cost"),
        F.count(F.lit(1)).cast("int").alias("events"),
    )
    starts = F.array(F.col("bucket"), F.col("bucket") - F.expr(f"INTERVAL {WINDOW_SECONDS - BUCKET_SECONDS} SECONDS"))
    return per_bucket.select(
        "bucket", F.explode(starts).alias("window_start"), "ad_id", "clicks", "views", "cost", "events"
    )


def mysql_ddl(database: str) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS `{database}`.ad_window_partials (
  bucket DATETIME NOT NULL,
  window_start DATETIME NOT NULL,
  ad_id VARCHAR({MAX_AD_ID_CHARS}) NOT NULL,
  clicks BIGINT NOT NULL,
  views BIGINT NOT NULL,
  cost DECIMAL(28,{COST_SCALE}) NOT NULL,
  events INT NOT NULL,
  PRIMARY KEY (bucket, window_start, ad_id),
  KEY by_window (window_start, ad_id)
)""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.ad_window_stats (
  ad_id VARCHAR({MAX_AD_ID_CHARS}) NOT NULL,
  window_start DATETIME NOT NULL,
  window_end DATETIME NOT NULL,
  total_clicks BIGINT NOT NULL,
  total_views BIGINT NOT NULL,
  total_cost DECIMAL(30,{COST_SCALE}) NOT NULL,
  event_count INT NOT NULL,
  avg_cost_per_view DECIMAL(34,10) NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (ad_id, window_start),
  KEY by_window (window_start)
)""",
    ]


ROLL_UP_WINDOWS = f"""
INSERT INTO ad_window_stats (ad_id, window_start, window_end, total_clicks, total_views, total_cost,
                             event_count, avg_cost_per_view, updated_at)
SELECT ad_id, window_start, window_start + INTERVAL {WINDOW_SECONDS} SECOND, SUM(clicks), SUM(views), SUM(cost),
       SUM(events), IF(SUM(views) > 0, SUM(cost) / SUM(views), NULL), NOW(6)
FROM ad_window_partials
WHERE (window_start) IN ({{periods}})
GROUP BY ad_id, window_start
ON DUPLICATE KEY UPDATE
  updated_at = IF(total_clicks <=> VALUES(total_clicks) AND total_views <=> VALUES(total_views)
                  AND total_cost <=> VALUES(total_cost) AND event_count <=> VALUES(event_count),
                  updated_at, VALUES(updated_at)),
  window_end = VALUES(window_end), total_clicks = VALUES(total_clicks), total_views = VALUES(total_views),
  total_cost = VALUES(total_cost), event_count = VALUES(event_count),
  avg_cost_per_view = VALUES(avg_cost_per_view)
"""

STREAM = StreamSpec(
    name=ADS,
    topics=(TOPICS["ads"],),
    bucket_seconds=BUCKET_SECONDS,
    raw_table="ads_raw",
    raw_columns=("bucket", "shard", "event_time", *(name for name, _ in RAW_FIELDS)),
    cassandra_ddl=functools.partial(raw_table_ddl, "ads_raw", cql_columns(RAW_FIELDS), ("event_id",)),
    mysql_ddl=mysql_ddl,
    classify=classify,
    partials=window_partials,
    aggregate_columns=("ad_id", "clicks", "views", "cost"),
    schema_registry=True,
    parse=parse,
    rollup=Rollup(
        table="ad_window_stats",
        partials_table="ad_window_partials",
        partial_columns=("bucket", "window_start", "ad_id", "clicks", "views", "cost", "events"),
        key=("ad_id",),
        period=("window_start",),
        upsert=ROLL_UP_WINDOWS,
    ),
)
