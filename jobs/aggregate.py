"""`python -m jobs aggregate`: dirty buckets to exact hourly rows in MySQL.

Reads the buckets ingest marked dirty, recomputes each one's partials from all its raw rows
in Cassandra (per-partition reads, never a scan), and in one MySQL transaction replaces
those partials, re-rolls the report hours they belong to into `events`, clears exactly the
marks it consumed and advances the watermark. A crash before the commit leaves the marks in
place, so the next run redoes the same buckets and lands the same numbers.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.buckets import report_hour
from jobs.metrics import RunMetrics
from jobs.schema import TRACKING
from jobs.settings import JobSettings
from jobs.stores import mysql_connection, read_cassandra
from jobs.tracking import attributed, tracking_partials

log = logging.getLogger("tidemark.aggregate")

PARTIAL_COLUMNS = (
    "bucket",
    "job_id",
    "publisher_id",
    "campaign_id",
    "group_id",
    "dates",
    "hours",
    "clicks",
    "conversion",
    "qualified_application",
    "disqualified_application",
    "impressions",
    "bid_sum",
    "bid_count",
)
COUNT_COLUMNS = ("clicks", "conversion", "qualified_application", "disqualified_application", "impressions")


class InjectedFault(RuntimeError):
    """Raised on purpose between the upserts and the watermark (crash-recovery tests)."""


def dirty_marks(conn: Any, stream: str) -> list[tuple[datetime, datetime]]:
    cursor = conn.cursor()
    cursor.execute("SELECT bucket, marked_at FROM dirty_buckets WHERE stream = %s ORDER BY bucket", (stream,))
    return [(bucket, marked_at) for bucket, marked_at in cursor.fetchall()]


def read_raw_buckets(spark: SparkSession, settings: JobSettings, buckets: list[datetime]) -> DataFrame:
    """All raw rows of the given buckets, one Cassandra partition read per (bucket, shard)."""
    keys = spark.createDataFrame(
        [(bucket, shard) for bucket in buckets for shard in range(settings.shards)],
        "bucket timestamp, shard int",
    )
    # directJoinSetting=on: per-partition queries for the keys, never a table scan.
    raw = read_cassandra(spark.read.option("directJoinSetting", "on"), settings, "tracking_raw")
    return keys.join(raw, ["bucket", "shard"])


def replace_partials(cursor: Any, buckets: list[datetime], partials: list[dict[str, Any]]) -> None:
    for start in range(0, len(buckets), 500):
        chunk = buckets[start : start + 500]
        cursor.execute(f"DELETE FROM tracking_partials WHERE bucket IN ({', '.join(['%s'] * len(chunk))})", chunk)
    if partials:
        cursor.executemany(
            f"INSERT INTO tracking_partials ({', '.join(PARTIAL_COLUMNS)}) "
            f"VALUES ({', '.join(['%s'] * len(PARTIAL_COLUMNS))})",
            [tuple(row[c] for c in PARTIAL_COLUMNS) for row in partials],
        )


# The hourly rows of one report hour, rolled up from its partials. updated_at is assigned
# first so it still compares the old values: it moves only when a number changes.
ROLL_UP_HOUR = """
INSERT INTO events (job_id, dates, hours, publisher_id, campaign_id, group_id, company_id,
                    clicks, conversion, qualified_application, disqualified_application, impressions,
                    spend_hour, bid_set, sources, updated_at)
SELECT p.job_id, p.dates, p.hours, p.publisher_id, p.campaign_id, p.group_id,
       COALESCE(MAX(d.company_id), 0),
       SUM(p.clicks), SUM(p.conversion), SUM(p.qualified_application),
       SUM(p.disqualified_application), SUM(p.impressions),
       SUM(p.bid_sum), IF(SUM(p.bid_count) > 0, SUM(p.bid_sum) / SUM(p.bid_count), NULL),
       'tracking', NOW(6)
FROM tracking_partials p LEFT JOIN job_dim d ON d.job_id = p.job_id
WHERE p.dates = %s AND p.hours = %s
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


def commit_run(
    conn: Any,
    settings: JobSettings,
    marks: list[tuple[datetime, datetime]],
    partials: list[dict[str, Any]],
    newest_event: datetime | None,
) -> int:
    """The one transaction of a run; returns how many hourly rows it touched."""
    buckets = [bucket for bucket, _ in marks]
    hours = sorted({report_hour(bucket, settings.report_timezone) for bucket in buckets})
    conn.start_transaction()
    try:
        cursor = conn.cursor()
        replace_partials(cursor, buckets, partials)
        touched = 0
        for day, hour in hours:
            cursor.execute(ROLL_UP_HOUR, (day, hour))
            touched += cursor.rowcount
        if settings.aggregate_fail_before_watermark:
            raise InjectedFault("TIDEMARK_AGGREGATE_FAIL_BEFORE_WATERMARK is set: failing before the watermark")
        # A bucket re-marked while this run worked keeps its newer mark and stays dirty.
        cursor.executemany(
            "DELETE FROM dirty_buckets WHERE stream = %s AND bucket = %s AND marked_at = %s",
            [(TRACKING, bucket, marked_at) for bucket, marked_at in marks],
        )
        cursor.execute(
            "INSERT INTO watermarks (stream, marked_through, newest_event_time, updated_at) "
            "VALUES (%s, %s, %s, NOW(6)) ON DUPLICATE KEY UPDATE "
            "marked_through = GREATEST(marked_through, VALUES(marked_through)), "
            "newest_event_time = GREATEST(COALESCE(newest_event_time, VALUES(newest_event_time)), "
            "COALESCE(VALUES(newest_event_time), newest_event_time)), updated_at = NOW(6)",
            (TRACKING, max(marked_at for _, marked_at in marks), newest_event),
        )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return touched


def newest_event_time(conn: Any, stream: str) -> datetime | None:
    """The newest event time visible in MySQL: freshness is now minus this."""
    cursor = conn.cursor()
    cursor.execute("SELECT newest_event_time FROM watermarks WHERE stream = %s", (stream,))
    row = cursor.fetchone()
    newest: datetime | None = row[0] if row else None
    return newest


def run(settings: JobSettings, spark: SparkSession, metrics: RunMetrics) -> None:
    conn = mysql_connection(settings)
    try:
        marks = dirty_marks(conn, TRACKING)
        if marks:
            beacons = attributed(read_raw_buckets(spark, settings, [b for b, _ in marks])).persist()
            try:
                metrics.rows_read = beacons.count()
                partials = [row.asDict() for row in tracking_partials(beacons, settings.report_timezone).collect()]
                newest = beacons.where(F.col("job_id").isNotNull()).agg(F.max("event_time")).first()
            finally:
                beacons.unpersist()
            metrics.rows_written = commit_run(conn, settings, marks, partials, newest[0] if newest else None)
            metrics.buckets_recomputed = len(marks)
        newest_visible = newest_event_time(conn, TRACKING)
        if newest_visible is not None:
            metrics.newest_event_timestamp[TRACKING] = newest_visible.replace(tzinfo=timezone.utc).timestamp()
    finally:
        conn.close()
