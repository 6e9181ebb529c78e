"""`python -m jobs ingest [--stream NAME ...]`: each stream's Kafka topics into its raw table.

Each micro-batch writes a stream's valid events to its raw table (bucketed by event time,
sharded by identity; for a stream whose identity is global, removing an event's earlier versions
from their buckets: jobs/versions.py), the rest to `rejects` with the reason and raw bytes, and
then marks the touched buckets dirty. Offsets are checkpointed only after all three, so a crash
replays the batch and the identity keys make the replay land on the same rows. Streams run as
concurrent queries with one checkpoint each.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from jobs import aggregate, layout, offsets, registry, supervision, versions
from jobs.metrics import RunMetrics
from jobs.observed import WAIT_SECONDS, from_micros, reported
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


@dataclass
class Seen:
    """What one batch held: its records per partition of its range, its valid rows with their
    buckets and kinds, and its rejects (by reason once the rejects pass has counted them)."""

    delivered: dict[tuple[str, int], int]
    valid: int
    rejected: int
    buckets: set[datetime]
    kinds: Counter[str]
    reasons: Counter[str] = field(default_factory=Counter)


class BatchCounts:
    """A batch's counts (`Seen`), taken by Spark Observations while the raw pass reads it: no
    second pass over the batch, and no cache of it, just to count it (a cache of 20,000 rows
    and its counting pass cost a busy driver 0.6-0.8 s)."""

    WAIT_SECONDS = WAIT_SECONDS

    def __init__(self, end: offsets.Offsets, kind: Column | None = None, kinds: tuple[str, ...] = ()) -> None:
        """`end`: the batch's range's end offsets; `kind`: each valid row's kind, one of `kinds`."""
        self.partitions = sorted((topic, int(p)) for topic, parts in end.items() for p in parts)
        self.kind, self.kinds = kind, kinds
        self._records = Observation()
        self._rows = Observation()

    def observe(self, batch: DataFrame, classify: Callable[[DataFrame], DataFrame]) -> DataFrame:
        """The batch classified, counted as a pass reads it: its records (a message may give
        several rows, or none) and the rows they gave."""
        if self.partitions:
            of = [(F.col("topic") == topic) & (F.col("partition") == p) for topic, p in self.partitions]
            batch = batch.observe(self._records, *(F.count_if(c).alias(f"p{i}") for i, c in enumerate(of)))
        valid = F.col("reason").isNull()
        metrics = [
            F.count_if(valid).alias("valid"),
            F.count_if(~valid).alias("rejected"),
            # As text: an observed array reaches Python as a Java object, a string as a string.
            F.array_join(F.collect_set(F.when(valid, F.unix_micros("bucket"))).cast("array<string>"), ",").alias(
                "buckets"
            ),
        ]
        if self.kind is not None:
            metrics += [F.count_if(valid & (self.kind == k)).alias(f"kind{i}") for i, k in enumerate(self.kinds)]
        return classify(batch).observe(self._rows, *metrics)

    def seen(self) -> Seen | None:
        """The counts, or None when the pass did not report them in time."""
        deadline = time.monotonic() + self.WAIT_SECONDS
        if not reported(self._rows, deadline) or (self.partitions and not reported(self._records, deadline)):
            return None
        records = self._records.get if self.partitions else {}
        rows = self._rows.get
        kinds: Counter[str] = Counter({k: int(rows[f"kind{i}"]) for i, k in enumerate(self.kinds)})
        return Seen(
            delivered={key: int(records[f"p{i}"]) for i, key in enumerate(self.partitions)},
            valid=int(rows["valid"]),
            rejected=int(rows["rejected"]),
            buckets={from_micros(int(us)) for us in rows["buckets"].split(",") if us},
            kinds=+kinds,
        )


def ingest_batch(
    batch: DataFrame, batch_id: int, spec: StreamSpec, settings: JobSettings, metrics: RunMetrics, *, sweeps: LateSweeps
) -> None:
    started = time.monotonic()
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    place = placement(settings, spec, now)
    span = offsets.batch_range(checkpoint(settings, "ingest", spec.topics), batch_id)
    counts = BatchCounts(span[1] if span else {}, spec.kind() if spec.kind is not None else None, spec.kinds)
    classified = counts.observe(batch, lambda records: spec.classify(records, place))
    # A valid row's bytes live on in its raw columns: keep them only for the rejects.
    classified = classified.withColumn("payload", F.when(F.col("reason").isNotNull(), F.col("payload")))
    # Kept when a second pass must see what the first saw: versions read the rows just written
    # again, and a stream whose parse asks a registry could judge a record otherwise the second
    # time (a schema registered in between), so it would be neither raw nor a reject. Any other
    # stream's parse is pure: it is read once, and again only for its rejects.
    kept = spec.global_identity is not None or spec.schema_registry
    if kept:
        classified = classified.persist()
    passes: dict[str, float] = {}
    try:
        with timing(passes, "raw"):
            superseded = write_raw(classified, spec, settings, place)
        seen = counts.seen()
        if seen is None:
            # The buckets to mark come from the pass that wrote the rows, or from nowhere: fail
            # the batch (its offsets are not committed) and read it again.
            raise RuntimeError(f"{spec.name} batch {batch_id}: its counts did not arrive; the batch is read again")
        if seen.rejected:
            with timing(passes, "rejects"):
                rejects = reject_rows(classified, spec.name, now, settings.max_payload_bytes).persist()
                try:
                    write_cassandra(rejects, settings, "rejects")
                    seen.reasons.update(
                        {row.reason: row["count"] for row in rejects.groupBy("reason").count().collect()}
                    )
                finally:
                    rejects.unpersist()
            if sum(seen.reasons.values()) != seen.rejected:
                # Kafka deleted some of the batch's records (retention) between its two reads.
                log.error(
                    "%s batch %d: %d rejects seen, %d found again to store",
                    spec.name,
                    batch_id,
                    seen.rejected,
                    sum(seen.reasons.values()),
                )
    finally:
        if kept:
            classified.unpersist()
    if span is None:
        log.warning("%s batch %d: no offset range in the checkpoint; skipped offsets not counted", spec.name, batch_id)
    gaps = offsets.skipped(*span, seen.delivered) if span else {}
    if gaps:
        metrics.skipped(gaps)
        log.warning(
            "%s batch %d: %d offsets skipped, deleted from Kafka before ingest read them: %s",
            spec.name,
            batch_id,
            sum(gaps.values()),
            ", ".join(f"{topic}/{partition}: {n}" for (topic, partition), n in sorted(gaps.items())),
        )
    buckets = sorted(seen.buckets | set(superseded))
    mark_dirty(settings, spec.name, buckets)

    record(metrics, spec, seen, len(buckets))
    if buckets and settings.ingest_aggregates:
        aggregate_now(batch.sparkSession, settings, spec, sweeps)
    log.info(
        "%s batch %d: %d raw, %d rejected%s, %d buckets marked, %.1fs (%s)",
        spec.name,
        batch_id,
        seen.valid,
        seen.rejected,
        f" {dict(seen.reasons)}" if seen.reasons else "",
        len(buckets),
        time.monotonic() - started,
        timings(passes),
    )


def record(metrics: RunMetrics, spec: StreamSpec, seen: Seen, buckets: int) -> None:
    """Adds a batch's counts to the run metrics."""
    for kind, rows in seen.kinds.items():
        metrics.saw(spec.name, kind, rows)
    if spec.kind is not None and sum(seen.kinds.values()) != seen.valid:
        log.warning(
            "%s: %d valid rows have a kind the spec does not list", spec.name, seen.valid - sum(seen.kinds.values())
        )
    metrics.count(spec.name, None, seen.valid)
    for reason, rows in seen.reasons.items():
        metrics.count(spec.name, reason, rows)
    metrics.marked(spec.name, buckets)


class LateSweeps:
    """When each stream's older dirty buckets last joined an aggregation after a batch: at most
    every `TIDEMARK_INGEST_LATE_AGGREGATE_SECONDS` (a driver's first batch always sweeps)."""

    def __init__(self, every_seconds: int) -> None:
        self.every = every_seconds
        self.last: dict[str, float] = {}

    def due(self, stream: str, now: float) -> bool:
        last = self.last.get(stream)
        return last is None or now - last >= self.every

    def swept(self, stream: str, now: float) -> None:
        self.last[stream] = now


def aggregate_now(spark: SparkSession, settings: JobSettings, spec: StreamSpec, sweeps: LateSweeps) -> None:
    """The stream's aggregate run, in this session, with its own run metrics pushed as the
    aggregate job's (the freshness alert and panels read those): its newest dirty buckets, and
    when the late sweep is due its older ones too (a bounded slice, newest first: a backlog,
    such as a big backfill, never makes a batch long)."""
    metrics = RunMetrics(job="aggregate", release=settings.release, streams={spec.name: spec.topics})
    # A run that holds the stream's lock (the CronJob, a manual one) takes these buckets too,
    # or the next batch does: never hold up ingest waiting for it.
    unblocking = settings.model_copy(update={"aggregate_lock_wait_seconds": 0})
    started = time.monotonic()
    late = sweeps.due(spec.name, started)
    part = aggregate.Slice(fresh=settings.ingest_fresh_buckets, late=late, chunks=settings.ingest_aggregate_chunks)
    try:
        ran = aggregate.aggregate_stream(spark, unblocking, spec, metrics, part=part)
    except Exception:
        # The buckets stay dirty: the next batch's run (or the aggregate CronJob) redoes them.
        log.exception("%s: aggregate after the batch failed", spec.name)
        metrics.push(settings.pushgateway, ok=False)
        return
    if late and ran:
        sweeps.swept(spec.name, started)
    metrics.push(settings.pushgateway, ok=True)
    log.info("%s aggregate%s: %s", spec.name, " (with the late sweep)" if late and ran else "", metrics.summary())


def start(
    spark: SparkSession, settings: JobSettings, spec: StreamSpec, metrics: RunMetrics, sweeps: LateSweeps
) -> StreamingQuery:
    writer = (
        kafka_stream(spark, settings, spec.topics)
        .writeStream.queryName(f"ingest-{spec.name}")
        .foreachBatch(lambda batch, batch_id: ingest_batch(batch, batch_id, spec, settings, metrics, sweeps=sweeps))
        .option("checkpointLocation", checkpoint(settings, "ingest", spec.topics))
    )
    if settings.ingest_trigger == "available-now":
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{settings.ingest_interval_seconds} seconds")
    return writer.start()


def sweep_late(spark: SparkSession, settings: JobSettings, specs: list[StreamSpec], sweeps: LateSweeps) -> None:
    """The late sweep of every stream whose sweep is due: a stream that went quiet has no batch
    to take its late buckets along, and they would wait for the aggregate CronJob."""
    for spec in specs:
        if sweeps.due(spec.name, time.monotonic()):
            aggregate_now(spark, settings, spec, sweeps)


def existing_topics(settings: JobSettings) -> set[str]:
    # The jobs' user sees only the topics it may read: one it may not is reported as missing.
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","), **kafka_python_options(settings))
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def check_registry(settings: JobSettings, specs: list[StreamSpec]) -> None:
    """Stops the run before any message is read when a stream would read writer schemas from a
    URL that is not a registry (jobs/registry.py): otherwise every event becomes a reject."""
    if settings.schema_registry_url and any(spec.schema_registry for spec in specs):
        registry.check(settings.schema_registry_url)
        log.info("schema registry %s answers", settings.schema_registry_url)


def run(
    settings: JobSettings,
    spark: SparkSession,
    metrics: RunMetrics,
    streams: list[str] | None = None,
    sweeps: LateSweeps | None = None,
) -> None:
    """`sweeps`: when each stream's late buckets were last aggregated (a new driver's: never)."""
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
    sweeps = sweeps or LateSweeps(settings.ingest_late_aggregate_seconds)
    if settings.ingest_trigger == "continuous":
        supervised = [
            supervision.Supervised(spec.name, functools.partial(start, spark, settings, spec, metrics, sweeps))
            for spec in specs
        ]
        sweep = (lambda: sweep_late(spark, settings, specs, sweeps)) if settings.ingest_aggregates else None
        supervision.heartbeat(supervised, settings, metrics, sweep)
        queries = {q.name: q.query for q in supervised}
    else:
        queries = {spec.name: start(spark, settings, spec, metrics, sweeps) for spec in specs}
    failed = []
    processed: dict[str, dict[str, int]] = {}
    for name, query in queries.items():
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
