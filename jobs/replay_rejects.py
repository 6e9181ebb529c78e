"""`python -m jobs replay-rejects --stream NAME [--reason R] [--since T]`: a stream's kept rejects
classified again, after a fix or a changed setting (a lifted retention, say).

Each reject whose payload now gives rows becomes them: written to the raw table under their
identity (a second replay, or a crash between the steps, lands on the same rows), their buckets
marked dirty for the next aggregate, and the reject deleted. The rest stay, with the reason and
detail they get now. A message that is still partly rejected (an activity array with a bad
element) keeps its reject row, and its good rows are written. A reject that kept only the first
`TIDEMARK_MAX_PAYLOAD_BYTES` of its payload (an oversize message) cannot be classified again: it
is counted, named in the log, and left.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.backfill import instant
from jobs.ingest import placement, reject_rows, write_raw
from jobs.metrics import RunMetrics
from jobs.settings import JobSettings
from jobs.spec import StreamSpec
from jobs.stores import cassandra_session, mark_dirty, read_cassandra, write_cassandra
from jobs.streams import NAMES, configured

log = logging.getLogger("tidemark.replay")


@dataclass(frozen=True)
class Replayed:
    became_rows: int  # rejects that now parse: written as rows and deleted from rejects
    stayed: int  # still rejected, with today's reason
    cut: int  # kept only in part (larger than TIDEMARK_MAX_PAYLOAD_BYTES): not replayed


def arguments() -> argparse.ArgumentParser:
    """The job's arguments, shared with `python -m jobs`'s own parser."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--stream", required=True, choices=NAMES)
    parser.add_argument("--reason", default=None, help="only rejects of this reason (e.g. absurd_time)")
    parser.add_argument("--since", default=None, type=instant, help="only rejects seen from this ISO time on")
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    return argparse.ArgumentParser(
        prog="python -m jobs replay-rejects", description=__doc__, parents=[arguments()]
    ).parse_args(argv)


def kept_rejects(spark: SparkSession, settings: JobSettings, stream: str, args: argparse.Namespace) -> DataFrame:
    """The stream's rejects the arguments choose, with `whole` telling those that kept their
    whole payload from those cut (jobs/schema.py)."""
    rejects = read_cassandra(spark.read, settings, "rejects").where(F.col("stream") == stream)
    if args.reason:
        rejects = rejects.where(F.col("reason") == args.reason)
    if args.since:
        rejects = rejects.where(F.col("seen_at") >= F.lit(args.since.astimezone(timezone.utc).replace(tzinfo=None)))
    return rejects.select(
        F.col("payload").alias("value"),
        "topic",
        "partition",
        "offset",
        F.col("kafka_time").alias("timestamp"),
        (F.length("payload") == F.col("payload_bytes")).alias("whole"),
    )


def replay(spark: SparkSession, settings: JobSettings, spec: StreamSpec, args: argparse.Namespace) -> Replayed:
    """Replays one stream's rejects that kept their whole payload."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    chosen = kept_rejects(spark, settings, spec.name, args).persist()
    try:
        cut = chosen.where(~F.col("whole")).count()
        records = chosen.where(F.col("whole")).drop("whole")
        place = placement(settings, spec, now)
        classified = spec.classify(records, place).persist()
        try:
            superseded = write_raw(classified, spec, settings, place)
            # Still rejected: rewritten in place (same Kafka key) with today's reason.
            kept = settings.max_payload_bytes
            write_cassandra(reject_rows(classified, spec.name, now, kept), settings, "rejects")
            by_record = (
                classified.groupBy("topic", "partition", F.to_date("timestamp").alias("kafka_day"), "offset")
                .agg(F.max(F.col("reason").isNotNull().cast("int")).alias("rejected"))
                .collect()
            )
            buckets = superseded + [
                r.bucket for r in classified.where(F.col("reason").isNull()).select("bucket").distinct().collect()
            ]
        finally:
            classified.unpersist()
    finally:
        chosen.unpersist()
    # Marked before the rejects go: a crash in between replays them again onto the same rows.
    mark_dirty(settings, spec.name, buckets)
    parsed = [(r.topic, r.partition, r.kafka_day, r.offset) for r in by_record if not r.rejected]
    cluster, session = cassandra_session(settings)
    try:
        delete = session.prepare(
            f"DELETE FROM {settings.cassandra_keyspace}.rejects "
            "WHERE topic = ? AND partition = ? AND kafka_day = ? AND offset = ?"
        )
        for key in parsed:
            session.execute(delete, key)
    finally:
        cluster.shutdown()
    return Replayed(became_rows=len(parsed), stayed=len(by_record) - len(parsed), cut=cut)


def run(settings: JobSettings, spark: SparkSession, argv: list[str], metrics: RunMetrics) -> None:
    args = parse_args(argv)
    for spec in configured(settings, [args.stream]):
        done = replay(spark, settings, spec, args)
        metrics.rows_read += done.became_rows + done.stayed + done.cut
        metrics.rows_written += done.became_rows
        log.info("%s: %d rejects became rows, %d stay rejects", spec.name, done.became_rows, done.stayed)
        if done.cut:
            log.warning(
                "%s: %d rejects kept only part of their payload (larger than TIDEMARK_MAX_PAYLOAD_BYTES when "
                "ingested) and were not replayed; their whole bytes are in Kafka at the topic, partition and "
                "offset of their row while the topic retains them",
                spec.name,
                done.cut,
            )
