"""`python -m jobs ingest`: the tracking topic into Cassandra's raw table.

Each micro-batch writes the valid beacons to `tracking_raw` (bucketed by event time,
sharded by event id), the rest to `rejects` with the reason and raw bytes, and then marks
the touched buckets dirty. Offsets are checkpointed only after all three, so a crash
replays the batch and the event id keys make the replay land on the same rows.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.metrics import RunMetrics
from jobs.schema import TRACKING
from jobs.settings import JobSettings
from jobs.stores import mark_dirty, write_cassandra
from jobs.tracking import attributed, classify_records, kind_counts, raw_rows, reject_rows

log = logging.getLogger("tidemark.ingest")


def kafka_stream(spark: SparkSession, settings: JobSettings, topic: str) -> DataFrame:
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", settings.kafka_starting_offsets)
        .option("maxOffsetsPerTrigger", str(settings.max_offsets_per_trigger))
        # Records that aged out of Kafka before we read them are gone either way; keep going.
        .option("failOnDataLoss", "false")
        .load()
    )


def checkpoint(settings: JobSettings, job: str, topic: str) -> str:
    return str(Path(settings.checkpoint_dir) / f"{job}-{topic}")


def ingest_batch(batch: DataFrame, settings: JobSettings, metrics: RunMetrics) -> None:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    classified = classify_records(
        batch,
        now=now,
        shards=settings.shards,
        max_payload_bytes=settings.max_payload_bytes,
        max_future_seconds=settings.max_future_seconds,
        raw_ttl_days=settings.raw_ttl_days,
    ).persist()
    try:
        raw = raw_rows(classified)
        write_cassandra(raw, settings, "tracking_raw")
        write_cassandra(reject_rows(classified, now), settings, "rejects")
        buckets = [row.bucket for row in raw.select("bucket").distinct().collect()]
        mark_dirty(settings, TRACKING, buckets)

        by_reason = classified.groupBy(F.coalesce("reason", F.lit("")).alias("reason")).count().collect()
        for row in by_reason:
            metrics.rows_read += row["count"]
            if row.reason:
                metrics.rejected[row.reason] += row["count"]
            else:
                metrics.rows_written += row["count"]
        for row in kind_counts(attributed(raw)).collect():
            metrics.kinds[row.kind] += row["count"]
        metrics.buckets_recomputed += len(buckets)
    finally:
        classified.unpersist()


def run(settings: JobSettings, spark: SparkSession, metrics: RunMetrics) -> None:
    stream = kafka_stream(spark, settings, settings.tracking_topic)
    writer = stream.writeStream.foreachBatch(lambda batch, _batch_id: ingest_batch(batch, settings, metrics)).option(
        "checkpointLocation", checkpoint(settings, "ingest", settings.tracking_topic)
    )
    if settings.ingest_trigger == "available-now":
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{settings.ingest_interval_seconds} seconds")
    query = writer.start()
    query.awaitTermination()
    if query.exception() is not None:
        raise RuntimeError(f"ingest stopped: {query.exception()}")
    progress = query.lastProgress
    if progress and progress.get("sources"):
        end = progress["sources"][0]["endOffset"]
        processed = json.loads(end) if isinstance(end, str) else end
        metrics.lag_records[settings.tracking_topic] = kafka_lag(settings, settings.tracking_topic, processed)


def kafka_lag(settings: JobSettings, topic: str, processed: dict[str, dict[str, int]]) -> int:
    """Records on the topic's partitions beyond the offsets this run processed."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap.split(","), enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        ends = consumer.end_offsets(partitions)
    finally:
        consumer.close()
    done = processed.get(topic, {})
    return sum(max(0, end - int(done.get(str(tp.partition), 0))) for tp, end in ends.items())
