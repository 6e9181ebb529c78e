"""`python -m jobs ingest [--stream NAME ...]`: each stream's Kafka topics into its raw table.

Each micro-batch writes a stream's valid events to its raw table (bucketed by event time,
sharded by identity; for a stream whose identity is global, removing an event's earlier versions
from their buckets: jobs/versions.py), the rest to `rejects` with the reason and raw bytes, and
then marks the touched buckets dirty. Offsets are checkpointed only after all three, so a crash
replays the batch and the identity keys make the replay land on the same rows. Streams run as
concurrent queries with one checkpoint each.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from pyspark.sql import DataFrame, Observation, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from jobs import aggregate, layout, offsets, registry, versions
from jobs.alive import stalled
from jobs.metrics import RunMetrics
from jobs.settings import JobSettings
from jobs.spec import RAW_TTL_COLUMN, Placement, StreamSpec, seconds_to_live
from jobs.stores import mark_dirty, mysql_connection, write_cassandra
from jobs.streams import configured, retention_days
from jobs.timing import timing, timings
from wire.kafka_auth import kafka_python_options, spark_options

log = logging.getLogger("tidemark.ingest")


def kafka_stream(spark: SparkSession, settings: JobSettings, topics: tuple[str, ...]) -> DataFrame:
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
        .options(**spark_options(settings))
        .option("groupIdPrefix", settings.kafka_group_prefix)
        .option("subscribe", ",".join(topics))
        .option("startingOffsets", settings.kafka_starting_offsets)
        .option("maxOffsetsPerTrigger", str(settings.max_offsets_per_trigger))
        # Records that aged out of Kafka before we read them are gone either way; keep going.
        .option("failOnDataLoss", "false")
        .load()
    )


def checkpoint(settings: JobSettings, job: str, topics: tuple[str, ...]) -> str:
    # Named by the topics: pointing a stream at another topic starts it afresh there.
    return str(Path(settings.checkpoint_dir) / f"{job}-{'+'.join(topics)}")


def write_raw(classified: DataFrame, spec: StreamSpec, settings: JobSettings, place: Placement) -> list[datetime]:
    """The valid events into the raw table, each living `retention` from its event time. For a
    stream whose identity is global, the earlier versions of its events leave their buckets
    (jobs/versions.py); returns those buckets, to mark dirty."""
    ttl = RAW_TTL_COLUMN if place.retention_days else None  # else kept forever
    version = versions.VERSION_COLUMN if spec.global_identity else None
    extra = []
    if ttl:
        extra.append(seconds_to_live(F.col("event_time"), place).alias(ttl))
    if version:
        extra.append(versions.version_of(F.col("timestamp"), F.col("offset"), place.now_micros).alias(version))
    rows = classified.where(F.col("reason").isNull()).select(*spec.raw_columns, *extra)
    write_cassandra(rows, settings, spec.raw_table, ttl_column=ttl, write_time_column=version)
    if spec.global_identity is None:
        return []
    return versions.settle(rows, spec.global_identity, spec.raw_table, settings, ttl)


def reject_rows(classified: DataFrame, stream: str, now: datetime, keep_bytes: int) -> DataFrame:
    """The rejected records, shaped as the `rejects` table: the raw bytes kept up to
    `keep_bytes` (the largest payload a stream parses), with the whole payload's size and digest."""
    payload = F.col("payload")
    return classified.where(F.col("reason").isNotNull()).select(
        F.lit(stream).alias("stream"),
        F.lit(now.date()).alias("seen_day"),
        "topic",
        "partition",
        F.to_date("timestamp").alias("kafka_day"),
        "offset",
        F.col("timestamp").alias("kafka_time"),
        F.lit(now).cast("timestamp").alias("seen_at"),
        "reason",
        "detail",
        F.substring(payload, 1, keep_bytes).alias("payload"),
        F.length(payload).alias("payload_bytes"),
        F.sha2(payload, 256).alias("payload_sha256"),
    )


def placement(settings: JobSettings, spec: StreamSpec, now: datetime) -> Placement:
    return Placement(
        now=now,
        shards=settings.shards,
        max_payload_bytes=settings.max_payload_bytes,
        max_future_seconds=settings.max_future_seconds,
        retention_days=retention_days(settings, spec.name),
        schema_registry_url=settings.schema_registry_url,
        schema_registry_wait_seconds=settings.schema_registry_wait_seconds,
    )


def batch_stats(classified: DataFrame, spec: StreamSpec) -> DataFrame:
    """Rows by (reason, bucket, kind): rejects by reason, the valid rows' buckets to mark and
    their kinds for the run metrics, all in one small aggregation."""
    valid = F.col("reason").isNull()
    kind = spec.kind() if spec.kind is not None else F.lit(None).cast("string")
    return classified.groupBy(
        "reason", F.when(valid, F.col("bucket")).alias("bucket"), F.when(valid, kind).alias("kind")
    ).count()


def ingest_batch(batch: DataFrame, batch_id: int, spec: StreamSpec, settings: JobSettings, metrics: RunMetrics) -> None:
    started = time.monotonic()
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    place = placement(settings, spec, now)
    span = offsets.batch_range(checkpoint(settings, "ingest", spec.topics), batch_id)
    delivered = Delivered(span[1] if span else {})
    classified = spec.classify(delivered.observe(batch), place)
    # A valid row's bytes live on in its raw columns: cache them only for the rejects.
    classified = classified.withColumn("payload", F.when(F.col("reason").isNotNull(), F.col("payload"))).persist()
    passes: dict[str, float] = {}
    try:
        # Passes over the cached batch (the first one classifies): the raw rows, the counts,
        # and only when the counts show any, the rejects (a Spark job costs a loaded driver
        # seconds even over nothing).
        with timing(passes, "raw"):
            superseded = write_raw(classified, spec, settings, place)
        with timing(passes, "counts"):
            stats = batch_stats(classified, spec).collect()
        if any(row.reason for row in stats):
            with timing(passes, "rejects"):
                rejects = reject_rows(classified, spec.name, now, settings.max_payload_bytes)
                write_cassandra(rejects, settings, "rejects")
    finally:
        classified.unpersist()
    if span is None:
        log.warning("%s batch %d: no offset range in the checkpoint; skipped offsets not counted", spec.name, batch_id)
    gaps = skipped_offsets(batch, span, delivered, spec, passes) if span else {}
    if gaps:
        metrics.skipped(gaps)
        log.warning(
            "%s batch %d: %d offsets skipped, deleted from Kafka before ingest read them: %s",
            spec.name,
            batch_id,
            sum(gaps.values()),
            ", ".join(f"{topic}/{partition}: {n}" for (topic, partition), n in sorted(gaps.items())),
        )
    buckets = sorted({row.bucket for row in stats if row.bucket is not None} | set(superseded))
    mark_dirty(settings, spec.name, buckets)

    valid, rejected = record(metrics, spec, stats, len(buckets))
    if buckets and settings.ingest_aggregates:
        aggregate_now(batch.sparkSession, settings, spec)
    log.info(
        "%s batch %d: %d raw, %d rejected%s, %d buckets marked, %.1fs (%s)",
        spec.name,
        batch_id,
        valid,
        sum(rejected.values()),
        f" {dict(rejected)}" if rejected else "",
        len(buckets),
        time.monotonic() - started,
        timings(passes),
    )


class Delivered:
    """A batch's records per partition of its range, counted (a Spark Observation) while the
    first pass reads them: the offsets Kafka skipped need no second read of the batch."""

    # The metrics reach the driver through Spark's listener bus a moment after the pass ends.
    WAIT_SECONDS = 10.0

    def __init__(self, end: offsets.Offsets) -> None:
        self.partitions = sorted((topic, int(p)) for topic, parts in end.items() for p in parts)
        self._seen = Observation()

    def observe(self, batch: DataFrame) -> DataFrame:
        if not self.partitions:
            return batch  # nothing to count (and an observation needs a metric)
        of = [(F.col("topic") == topic) & (F.col("partition") == p) for topic, p in self.partitions]
        return batch.observe(self._seen, *(F.count_if(c).alias(f"p{i}") for i, c in enumerate(of)))

    def counts(self) -> dict[tuple[str, int], int] | None:
        """The counts, or None when no pass over the batch reported them in time."""
        if not self.partitions:
            return {}
        observed = self._seen._jo  # the JVM's Observation, once `observe` made it
        if observed is None:
            return None
        # PySpark's `get` would wait for ever: its JVM side's future tells whether they came.
        reported = observed.future()
        deadline = time.monotonic() + self.WAIT_SECONDS
        while not reported.isCompleted():
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)
        seen = self._seen.get
        return {key: int(seen[f"p{i}"]) for i, key in enumerate(self.partitions)}


def skipped_offsets(
    batch: DataFrame,
    span: tuple[offsets.Offsets, offsets.Offsets],
    delivered: Delivered,
    spec: StreamSpec,
    passes: dict[str, float],
) -> dict[tuple[str, int], int]:
    """Offsets this batch covered that Kafka no longer had (jobs/offsets.py): its records per
    partition, compared with its range in the checkpoint. Counted again from Kafka only when
    the first pass did not report them."""
    counts = delivered.counts()
    if counts is None:
        log.warning("%s: the batch's record counts did not arrive; counting them again from Kafka", spec.name)
        with timing(passes, "offsets"):
            rows = batch.groupBy("topic", "partition").count().collect()
        counts = {(row.topic, row.partition): row["count"] for row in rows}
    return offsets.skipped(*span, counts)


def record(metrics: RunMetrics, spec: StreamSpec, stats: list[Row], buckets: int) -> tuple[int, Counter[str]]:
    """Adds a batch's counts to run metrics; returns its valid rows and rejects by reason."""
    rejected: Counter[str] = Counter()
    valid = 0
    for row in stats:
        if row.reason:
            rejected[row.reason] += row["count"]
        else:
            valid += row["count"]
            if row.kind is not None:
                metrics.saw(spec.name, row.kind, row["count"])
    metrics.count(spec.name, None, valid)
    for reason, rows in rejected.items():
        metrics.count(spec.name, reason, rows)
    metrics.marked(spec.name, buckets)
    return valid, rejected


def aggregate_now(spark: SparkSession, settings: JobSettings, spec: StreamSpec) -> None:
    """The stream's aggregate run, in this session, with its own run metrics pushed as the
    aggregate job's (the freshness alert and panels read those)."""
    metrics = RunMetrics(job="aggregate", release=settings.release, streams={spec.name: spec.topics})
    # A run that holds the stream's lock (the CronJob, a manual one) takes these buckets too,
    # or the next batch does: never hold up ingest waiting for it.
    unblocking = settings.model_copy(update={"aggregate_lock_wait_seconds": 0})
    try:
        # A bounded slice, newest first: a backlog (a big backfill) never makes a batch long.
        aggregate.aggregate_stream(spark, unblocking, spec, metrics, slice_chunks=settings.ingest_aggregate_chunks)
    except Exception:
        # The buckets stay dirty: the next batch's run (or the aggregate CronJob) redoes them.
        log.exception("%s: aggregate after the batch failed", spec.name)
        metrics.push(settings.pushgateway, ok=False)
        return
    metrics.push(settings.pushgateway, ok=True)
    log.info("%s aggregate: %s", spec.name, metrics.summary())


def start(spark: SparkSession, settings: JobSettings, spec: StreamSpec, metrics: RunMetrics) -> StreamingQuery:
    writer = (
        kafka_stream(spark, settings, spec.topics)
        .writeStream.queryName(f"ingest-{spec.name}")
        .foreachBatch(lambda batch, batch_id: ingest_batch(batch, batch_id, spec, settings, metrics))
        .option("checkpointLocation", checkpoint(settings, "ingest", spec.topics))
    )
    if settings.ingest_trigger == "available-now":
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{settings.ingest_interval_seconds} seconds")
    return writer.start()


def heartbeat(queries: list[StreamingQuery], settings: JobSettings, metrics: RunMetrics) -> None:
    """While every query runs, pushes the run's metrics so far each interval: a driver that
    never ends still shows its last success (its alert reads it) and what it has done. It
    touches the liveness file (jobs/alive.py) while no query is stalled."""
    started = time.time()
    alive = Path(settings.ingest_alive_file) if settings.ingest_alive_file else None
    while all(query.isActive for query in queries):
        metrics.push(settings.pushgateway, ok=True)
        now = time.time()
        stuck = [q.name for q in queries if stalled(q.lastProgress, started, now, settings.ingest_stall_seconds)]
        if stuck:
            log.warning("no progress for %ds: %s", settings.ingest_stall_seconds, ", ".join(map(str, stuck)))
        elif alive is not None:
            alive.parent.mkdir(parents=True, exist_ok=True)
            alive.touch()
        time.sleep(settings.ingest_interval_seconds)


def existing_topics(settings: JobSettings) -> set[str]:
    # The jobs' user sees only the topics it may read: one it may not is reported as missing.
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","), **kafka_python_options(settings))
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def forget_heartbeat(settings: JobSettings) -> None:
    """Removes the liveness file a driver before this one left (the pod's /tmp outlives a
    container): until this driver beats, the probes say it is starting, not alive or stuck."""
    if settings.ingest_alive_file:
        Path(settings.ingest_alive_file).unlink(missing_ok=True)


def check_registry(settings: JobSettings, specs: list[StreamSpec]) -> None:
    """Stops the run before any message is read when a stream would read writer schemas from a
    URL that is not a registry (jobs/registry.py): otherwise every event becomes a reject."""
    if settings.schema_registry_url and any(spec.schema_registry for spec in specs):
        registry.check(settings.schema_registry_url)
        log.info("schema registry %s answers", settings.schema_registry_url)


def run(settings: JobSettings, spark: SparkSession, metrics: RunMetrics, streams: list[str] | None = None) -> None:
    chosen = configured(settings, streams or ())
    check_registry(settings, chosen)
    existing = existing_topics(settings)
    specs = []
    for spec in chosen:
        missing = [t for t in spec.topics if t not in existing]
        if missing:
            # Subscribing would make a broker that auto-creates topics create it mid-query, and
            # the query fails on the partition that has no leader yet: wait for a producer.
            log.info(
                "%s: topic %s does not exist yet, or the Kafka user %s may not read it; nothing to ingest",
                spec.name,
                ", ".join(missing),
                settings.kafka_username,
            )
            continue
        specs.append(spec)
    with closing(mysql_connection(settings)) as conn:
        layout.settle_shards(conn, [spec.name for spec in specs], settings.shards)
    queries = {spec.name: (spec, start(spark, settings, spec, metrics)) for spec in specs}
    if settings.ingest_trigger == "continuous":
        heartbeat([query for _, query in queries.values()], settings, metrics)
    failed = []
    processed: dict[str, dict[str, int]] = {}
    for name, (_spec, query) in queries.items():
        query.awaitTermination()
        if query.exception() is not None:
            failed.append(f"{name}: {query.exception()}")
            continue
        progress = query.lastProgress
        if progress and progress.get("sources"):
            end = progress["sources"][0]["endOffset"]
            processed.update(json.loads(end) if isinstance(end, str) else end)
    if processed:
        metrics.lag_records.update(kafka_lag(settings, processed))
    if failed:
        raise RuntimeError("ingest stopped: " + "; ".join(failed))


def kafka_lag(settings: JobSettings, processed: dict[str, dict[str, int]]) -> dict[str, int]:
    """Records on each topic's partitions beyond the offsets this run processed (one query)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        enable_auto_commit=False,
        **kafka_python_options(settings),
    )
    try:
        partitions = [TopicPartition(t, p) for t in processed for p in consumer.partitions_for_topic(t) or []]
        ends = consumer.end_offsets(partitions)
    finally:
        consumer.close()
    lag = dict.fromkeys(processed, 0)
    for tp, end in ends.items():
        lag[tp.topic] += max(0, end - int(processed[tp.topic].get(str(tp.partition), 0)))
    return lag
