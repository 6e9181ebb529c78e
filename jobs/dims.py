"""`python -m jobs dims`: Debezium change events of recruit.job into analytics.job_dim.

When a job's company changes (or a job is first seen), its existing hourly rows are
re-stamped with the new company in the same transaction, so `events` never shows a stale
company next to a current `job_dim`.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from jobs.ingest import checkpoint, kafka_stream
from jobs.metrics import RunMetrics
from jobs.settings import JobSettings
from jobs.stores import mysql_connection
from jobs.stream_lock import acquire, lock_name

log = logging.getLogger("tidemark.dims")

JOB_ROW = StructType(
    [
        StructField("id", IntegerType()),
        StructField("company_id", IntegerType()),
        StructField("campaign_id", IntegerType()),
        StructField("group_id", IntegerType()),
        StructField("title", StringType()),
    ]
)
CHANGE_EVENT = StructType([StructField("op", StringType()), StructField("after", JOB_ROW)])


def job_states(changes: DataFrame) -> DataFrame:
    """The newest state of each job in a batch of Debezium change events (JSON, no schema).
    Deletes and tombstones carry no `after` and leave the job's last known company."""
    parsed = changes.select("partition", "offset", F.from_json(F.col("value").cast("string"), CHANGE_EVENT).alias("e"))
    return parsed.where(F.col("e.after.id").isNotNull() & F.col("e.op").isin("c", "r", "u")).select(
        "partition", "offset", F.col("e.after.*")
    )


def apply_states(conn: Any, states: list[dict[str, Any]]) -> tuple[int, int]:
    """Upserts job_dim and re-stamps hourly rows of jobs whose company changed; returns
    (jobs upserted, hourly rows re-stamped)."""
    newest: dict[int, dict[str, Any]] = {}
    # A job lives on one partition (keyed by id), so offset order is change order.
    for state in sorted(states, key=lambda s: (s["partition"], s["offset"])):
        newest[state["id"]] = state
    if not newest:
        return 0, 0
    conn.start_transaction()
    try:
        cursor = conn.cursor()
        cursor.executemany(
            "INSERT INTO job_dim (job_id, company_id, campaign_id, group_id, title, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, NOW(6)) ON DUPLICATE KEY UPDATE company_id = VALUES(company_id), "
            "campaign_id = VALUES(campaign_id), group_id = VALUES(group_id), title = VALUES(title), "
            "updated_at = NOW(6)",
            [(s["id"], s["company_id"] or 0, s["campaign_id"], s["group_id"], s["title"]) for s in newest.values()],
        )
        restamped = 0
        for job_id, state in newest.items():
            cursor.execute(
                "UPDATE events SET company_id = %s, updated_at = NOW(6) WHERE job_id = %s AND company_id <> %s",
                (state["company_id"] or 0, job_id, state["company_id"] or 0),
            )
            restamped += cursor.rowcount
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return len(newest), restamped


def run(settings: JobSettings, spark: SparkSession, metrics: RunMetrics) -> None:
    """One dims run at a time per database (a manual run beside the CronJob's): a second one
    would fail writing the checkpoint the first is writing. It waits for the first
    (TIDEMARK_AGGREGATE_LOCK_WAIT_SECONDS), then reads what is left, or says so and ends."""
    lock = mysql_connection(settings)
    try:
        if not acquire(
            lock, lock_name(settings, settings.cdc_job_topic, job="dims"), settings.aggregate_lock_wait_seconds
        ):
            log.info("another dims run is reading %s; leaving its change events to it", settings.cdc_job_topic)
            return
        follow_changes(settings, spark, metrics)
    finally:
        lock.close()  # the lock goes with its connection


def follow_changes(settings: JobSettings, spark: SparkSession, metrics: RunMetrics) -> None:
    def batch(changes: DataFrame, _batch_id: int) -> None:
        states = [row.asDict() for row in job_states(changes).collect()]
        metrics.rows_read += len(states)
        conn = mysql_connection(settings)
        try:
            upserted, restamped = apply_states(conn, states)
        finally:
            conn.close()
        metrics.rows_written += upserted + restamped

    query = (
        kafka_stream(spark, settings, (settings.cdc_job_topic,))
        .writeStream.foreachBatch(batch)
        .option("checkpointLocation", checkpoint(settings, "dims", (settings.cdc_job_topic,)))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
