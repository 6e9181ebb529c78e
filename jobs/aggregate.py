"""`python -m jobs aggregate [--stream NAME ...]`: dirty buckets to exact rows in MySQL.

For each stream, one run at a time (a MySQL named lock; a second run waits a bounded time,
then says another is running and exits 0). The run works through the buckets marked dirty
when it started in bounded chunks. For each chunk it recomputes the buckets' partials from
all their raw rows in Cassandra (per-partition reads, never a scan), and in one MySQL
transaction replaces those partials, re-rolls every period their old or new partials touch
(deleting the period's rows whose key no partial produces any more), clears exactly the marks
it consumed and advances the watermark. A crash loses at most the chunk in flight: its marks
stay, so the next run redoes it and lands the same numbers.

One run at a time per stream, fenced: jobs/stream_lock.py.

A chunk MySQL refuses for its data (a value too long or out of range, a duplicate key) is
split in halves until the buckets that fail alone are found; those are set aside with their
error (their marks stay for the next run; counted as `buckets_set_aside`, which alerts) and
the chunks behind them go on. A store that does not answer fails the run as before.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import mysql.connector
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from jobs import layout, totals
from jobs.buckets import report_hours
from jobs.metrics import RunMetrics
from jobs.observed import WAIT_SECONDS, from_micros, reported
from jobs.settings import JobSettings
from jobs.spec import AggregateContext, Rollup, RunContext, StreamSpec, row_constructors
from jobs.stores import mysql_connection, read_cassandra, scalar
from jobs.stream_lock import KeepAlive, acquire, fence, lock_name, release, take_lease
from jobs.streams import configured
from jobs.timing import timing, timings

log = logging.getLogger("tidemark.aggregate")

# Rows per INSERT and keys per IN list: every statement stays far below max_allowed_packet.
ROWS_PER_STATEMENT = 2_000
# MySQL's answers to two transactions wanting each other's rows: retry the chunk.
RETRYABLE_ERRNOS = (1205, 1213)  # lock wait timeout, deadlock
CHUNK_ATTEMPTS = 5
# MySQL's answers that a chunk's data cannot be stored (1406 too long, 1264 out of range, 1062
# a duplicate key, …): the chunk's own fault, not the store's, so retrying cannot help.
DATA_ERRORS = (mysql.connector.errors.DataError, mysql.connector.errors.IntegrityError)

Mark = tuple[datetime, datetime]  # (bucket, marked_at)


class InjectedFault(RuntimeError):
    """Raised on purpose between the upserts and the watermark (crash-recovery tests)."""


def dirty_marks(
    conn: Any, stream: str, through: datetime, limit: int, after: datetime | None = None, *, newest_first: bool = False
) -> list[Mark]:
    """The next chunk of marks this run owns, marked no later than `through`: the oldest buckets
    after `after`, or with `newest_first` the newest before it. Each bucket is visited once a
    run, so one set aside is not tried again. A chunk is always in bucket order."""
    cursor = conn.cursor()
    if newest_first:
        cursor.execute(
            "SELECT bucket, marked_at FROM dirty_buckets WHERE stream = %s AND marked_at <= %s "
            "AND bucket < COALESCE(%s, '9999-12-31') ORDER BY bucket DESC LIMIT %s",
            (stream, through, after, limit),
        )
        return sorted((bucket, marked_at) for bucket, marked_at in cursor.fetchall())
    cursor.execute(
        "SELECT bucket, marked_at FROM dirty_buckets WHERE stream = %s AND marked_at <= %s "
        "AND bucket > COALESCE(%s, '1000-01-01') ORDER BY bucket LIMIT %s",
        (stream, through, after, limit),
    )
    return [(bucket, marked_at) for bucket, marked_at in cursor.fetchall()]


def newest_mark(conn: Any, stream: str) -> datetime | None:
    newest: datetime | None = scalar(conn, "SELECT MAX(marked_at) FROM dirty_buckets WHERE stream = %s", stream)
    return newest


def read_raw_buckets(
    spark: SparkSession, settings: JobSettings, spec: StreamSpec, buckets: list[datetime]
) -> DataFrame:
    """All raw rows of the given buckets, one Cassandra partition read per (bucket, shard)."""
    keys = spark.createDataFrame(
        [(bucket, shard) for bucket in buckets for shard in range(settings.shards)],
        "bucket timestamp, shard int",
    )
    # directJoinSetting=on: per-partition queries for the keys, never a table scan.
    raw = read_cassandra(spark.read.option("directJoinSetting", "on"), settings, spec.raw_table)
    joined = keys.join(raw, ["bucket", "shard"])
    # Only the columns the aggregation reads: the rest would be fetched and cached for nothing.
    return joined.select("bucket", "shard", "event_time", *spec.aggregate_columns) if spec.aggregate_columns else joined


def report_hours_frame(spark: SparkSession, buckets: list[datetime], report_timezone: str) -> DataFrame:
    """The buckets' report hours (jobs/buckets.py) as a frame to join: one row per bucket."""
    return F.broadcast(
        spark.createDataFrame(
            report_hours(buckets, report_timezone), "bucket timestamp, dates date, hours int, hour timestamp"
        )
    )


def periods_of(cursor: Any, rollup: Rollup, buckets: Sequence[datetime]) -> set[tuple[Any, ...]]:
    """The periods the partials of these buckets roll up into."""
    found: set[tuple[Any, ...]] = set()
    period = ", ".join(rollup.period)
    for sql, values in row_constructors([(b,) for b in buckets], 1):
        cursor.execute(f"SELECT DISTINCT {period} FROM {rollup.partials_table} WHERE (bucket) IN ({sql})", values)
        found.update(tuple(row) for row in cursor.fetchall())
    return found


def replace_partials(cursor: Any, rollup: Rollup, buckets: Sequence[datetime], rows: Iterable[tuple[Any, ...]]) -> int:
    for sql, values in row_constructors([(b,) for b in buckets], 1):
        cursor.execute(f"DELETE FROM {rollup.partials_table} WHERE (bucket) IN ({sql})", values)
    insert = (
        f"INSERT INTO {rollup.partials_table} ({', '.join(rollup.partial_columns)}) "
        f"VALUES ({', '.join(['%s'] * len(rollup.partial_columns))})"
    )
    written = 0
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == ROWS_PER_STATEMENT:
            cursor.executemany(insert, batch)
            written += len(batch)
            batch = []
    if batch:
        cursor.executemany(insert, batch)
        written += len(batch)
    return written


def prune_statement(rollup: Rollup, periods_sql: str) -> str:
    """Deletes the rows of some periods whose key no partial produces any more."""
    match = " AND ".join(f"p.{c} = t.{c}" for c in (*rollup.key, *rollup.period))
    return (
        f"DELETE t FROM {rollup.table} t WHERE ({', '.join(f't.{c}' for c in rollup.period)}) "
        f"IN ({periods_sql}) AND NOT EXISTS (SELECT 1 FROM {rollup.source} p WHERE {match})"
    )


def reroll(cursor: Any, rollup: Rollup, periods: set[tuple[Any, ...]], context: RunContext) -> int:
    """Makes the target rows of these periods exactly what the partials produce, then runs
    the rollup's further step on the same periods."""
    touched = 0
    ordered = sorted(periods)
    for sql, values in row_constructors(ordered, len(rollup.period)):
        cursor.execute(rollup.upsert.format(periods=sql, source=rollup.source), values)
        touched += cursor.rowcount
        cursor.execute(prune_statement(rollup, sql), values)
        touched += cursor.rowcount
    if rollup.then is not None and periods:
        touched += rollup.then(cursor, periods, context)
    return touched


def commit_chunk(
    conn: Any,
    context: RunContext,
    spec: StreamSpec,
    *,
    marks: list[Mark],
    partial_rows: Iterable[tuple[Any, ...]],
    newest_event: datetime | None,
    passes: dict[str, float],
) -> int:
    """The one transaction of a chunk; returns how many target rows it touched. Adds the time
    its steps took to `passes`."""
    buckets = [bucket for bucket, _ in marks]
    conn.start_transaction()
    try:
        cursor = conn.cursor()
        fence(cursor, spec.name, context)
        rollup = spec.rollup
        before = periods_of(cursor, rollup, buckets)
        with timing(passes, "partials"):
            if rollup.keeps_totals:
                totals.move(cursor, rollup, buckets, "-")
            # Spark computes the partials as this loop takes them.
            replace_partials(cursor, rollup, buckets, partial_rows)
            if rollup.keeps_totals:
                totals.move(cursor, rollup, buckets, "+")
        with timing(passes, "reroll"):
            periods = before | periods_of(cursor, rollup, buckets)
            if rollup.keeps_totals:
                totals.drop_empty(cursor, rollup, periods)
            touched = reroll(cursor, rollup, periods, context)
        if context.settings.aggregate_fail_before_watermark:
            raise InjectedFault("TIDEMARK_AGGREGATE_FAIL_BEFORE_WATERMARK is set: failing before the watermark")
        # A bucket re-marked while this run worked keeps its newer mark and stays dirty.
        cursor.executemany(
            "DELETE FROM dirty_buckets WHERE stream = %s AND bucket = %s AND marked_at = %s",
            [(spec.name, bucket, marked_at) for bucket, marked_at in marks],
        )
        cursor.execute(
            "INSERT INTO watermarks (stream, marked_through, newest_event_time, updated_at) "
            "VALUES (%s, %s, %s, NOW(6)) ON DUPLICATE KEY UPDATE "
            "marked_through = GREATEST(marked_through, VALUES(marked_through)), "
            "newest_event_time = GREATEST(COALESCE(newest_event_time, VALUES(newest_event_time)), "
            "COALESCE(VALUES(newest_event_time), newest_event_time)), updated_at = NOW(6)",
            (spec.name, max(marked_at for _, marked_at in marks), newest_event),
        )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return touched


def newest_event_time(conn: Any, stream: str) -> datetime | None:
    """The newest event time visible in MySQL: freshness is now minus this."""
    newest: datetime | None = scalar(conn, "SELECT newest_event_time FROM watermarks WHERE stream = %s", stream)
    return newest


def aggregate_chunk(
    spark: SparkSession, conn: Any, context: RunContext, spec: StreamSpec, *, marks: list[Mark], metrics: RunMetrics
) -> None:
    settings = context.settings
    started = time.monotonic()
    passes: dict[str, float] = {}
    seen = Observation()
    with timing(passes, "plan"):
        counted = spec.counted() if spec.counted is not None else F.lit(True)
        # The rows read and the newest counted event time, counted as the one pass reads them.
        # The time in µs: an observed timestamp reaches Python as a Java object, a number as a number.
        newest_micros = F.unix_micros(F.max(F.when(counted, F.col("event_time"))))
        raw = read_raw_buckets(spark, settings, spec, [b for b, _ in marks]).observe(
            seen, F.count(F.lit(1)).alias("rows"), newest_micros.alias("newest_micros")
        )
        hours = report_hours_frame(spark, [b for b, _ in marks], settings.report_timezone)
        partials = spec.partials(raw, AggregateContext(hours)).select(*spec.rollup.partial_columns)
    with timing(passes, "read"):
        # One Spark job: a chunk's partials (bounded by aggregate_chunk_buckets) come to the
        # driver whole. A cache of the raw rows and a pass to count them cost a loaded driver
        # more than the read itself, and `toLocalIterator` never reports an observation.
        partial_rows = [tuple(row) for row in partials.collect()]
    if not reported(seen, time.monotonic() + WAIT_SECONDS):
        # Committing without them would leave the stream's newest visible event behind for
        # good: the chunk fails, its marks stay, and the next run redoes it.
        raise RuntimeError(f"{spec.name}: the chunk's row count and newest event did not arrive")
    # Empty when Spark dropped the pass (AQE plans a read of buckets without rows as empty).
    summary = seen.get
    newest = summary.get("newest_micros")  # absent too when no row counts: nothing newer to show
    for attempt in range(1, CHUNK_ATTEMPTS + 1):
        try:
            touched = commit_chunk(
                conn,
                context,
                spec,
                marks=marks,
                partial_rows=partial_rows,
                newest_event=from_micros(newest) if newest is not None else None,
                passes=passes,
            )
            break
        except mysql.connector.Error as e:
            if e.errno not in RETRYABLE_ERRNOS or attempt == CHUNK_ATTEMPTS:
                raise
            log.warning("%s: chunk of %d buckets hit %s; retrying (%d)", spec.name, len(marks), e.msg, attempt)
    rows = summary.get("rows", 0)
    metrics.rows_read += rows
    metrics.rows_written += touched
    metrics.buckets_recomputed += len(marks)
    log.info(
        "%s chunk: %s, %d raw rows, %d rows upserted or deleted, %.1fs (%s)",
        spec.name,
        span(marks),
        rows,
        touched,
        time.monotonic() - started,
        timings(passes),
    )


def span(marks: list[Mark]) -> str:
    """`N buckets (first .. last)`, for the log."""
    return f"{len(marks)} buckets ({marks[0][0]} .. {marks[-1][0]})"


def settle_chunk(
    spark: SparkSession,
    conn: Any,
    context: RunContext,
    spec: StreamSpec,
    *,
    marks: list[Mark],
    metrics: RunMetrics,
    set_aside: list[datetime],
) -> None:
    """Aggregates a chunk; when MySQL refuses its data, its halves apart, down to the buckets
    that fail alone, which go to `set_aside`."""
    try:
        aggregate_chunk(spark, conn, context, spec, marks=marks, metrics=metrics)
    except DATA_ERRORS as e:
        if len(marks) == 1:
            log.error(
                "%s: bucket %s set aside: %s; its mark stays and the next run tries it again", spec.name, marks[0][0], e
            )
            set_aside.append(marks[0][0])
            return
        half = len(marks) // 2
        log.warning("%s: chunk of %s refused: %s; trying its halves apart", spec.name, span(marks), e)
        for part in (marks[:half], marks[half:]):
            settle_chunk(spark, conn, context, spec, marks=part, metrics=metrics, set_aside=set_aside)


def run_id(spec: StreamSpec) -> str:
    """Names one run of one stream: sortable by time, unique across concurrent installs."""
    return f"{spec.name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def in_transaction(conn: Any, stream: str, context: RunContext, work: Callable[[Any], int]) -> int:
    """Runs `work(cursor)` in one fenced transaction, retried when MySQL reports a deadlock."""
    for attempt in range(1, CHUNK_ATTEMPTS + 1):
        conn.start_transaction()
        try:
            cursor = conn.cursor()
            fence(cursor, stream, context)
            done = work(cursor)
            conn.commit()
            return done
        except mysql.connector.Error as e:
            conn.rollback()
            if e.errno not in RETRYABLE_ERRNOS or attempt == CHUNK_ATTEMPTS:
                raise
        except BaseException:
            conn.rollback()
            raise
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Slice:
    """What one aggregation after a micro-batch does: the stream's `fresh` newest dirty buckets,
    then, when `late`, at most `chunks` chunks of the older ones, newest first."""

    fresh: int
    late: bool
    chunks: int


def chunk_sizes(chunk_buckets: int, part: Slice | None) -> Iterator[int]:
    """The buckets each chunk of a run takes: chunks of `chunk_buckets` until none is left, or a
    slice's fresh chunk and then its late ones."""
    if part is None:
        yield from itertools.repeat(chunk_buckets)
        return
    yield min(part.fresh, chunk_buckets)
    if part.late:
        yield from itertools.repeat(chunk_buckets, part.chunks)


def aggregate_stream(
    spark: SparkSession,
    settings: JobSettings,
    spec: StreamSpec,
    metrics: RunMetrics,
    *,
    part: Slice | None = None,
) -> bool:
    """One run of one stream: every dirty bucket, oldest first; or a `part` of them, newest
    first (ingest's aggregation after each micro-batch). False when another run held the
    stream and this one did nothing."""
    lock = mysql_connection(settings)
    conn = mysql_connection(settings)
    name = lock_name(settings, spec.name)
    try:
        layout.settle_shards(conn, [spec.name], settings.shards)
        # The server ends the lock's connection, and frees the lock, once it idles this long.
        lock.cursor().execute(f"SET SESSION wait_timeout = {int(settings.aggregate_lock_idle_seconds)}")
        if not acquire(lock, name, settings.aggregate_lock_wait_seconds):
            log.info("another aggregate of %s is running; leaving its buckets to it", spec.name)
            metrics.skipped_streams.append(spec.name)
            return False
        try:
            # Asked before the pings start: the connection is the keep-alive thread's from then on.
            lock_id: int = scalar(lock, "SELECT CONNECTION_ID()")
            with KeepAlive(lock, settings.aggregate_lock_idle_seconds / 4):
                run_stream(spark, settings, spec, metrics, conn=conn, lock=(name, lock_id), part=part)
            return True
        finally:
            try:
                release(lock, name)
            except mysql.connector.Error as e:
                # A lost lock connection took the lock with it: nothing to release.
                log.warning("%s: could not release the aggregate lock: %s", spec.name, e)
    finally:
        conn.close()
        lock.close()


def run_stream(
    spark: SparkSession,
    settings: JobSettings,
    spec: StreamSpec,
    metrics: RunMetrics,
    *,
    conn: Any,
    lock: tuple[str, int],
    part: Slice | None = None,
) -> None:
    """One run of one stream, holding its lock (its name and the id of the connection holding
    it): the lease, the stream's own first step, the chunks, the gauges."""
    run = run_id(spec)
    context = RunContext(
        run_id=run,
        settings=settings,
        lease=take_lease(conn, spec.name, run),
        lock_name=lock[0],
        lock_connection_id=lock[1],
    )
    before_run = spec.before_run
    if before_run is not None:
        metrics.rows_written += in_transaction(conn, spec.name, context, lambda cursor: before_run(cursor, context))
    through = newest_mark(conn, spec.name)
    chunks = 0
    set_aside: list[datetime] = []
    after: datetime | None = None
    newest_first = part is not None
    for size in chunk_sizes(settings.aggregate_chunk_buckets, part):
        if through is None:
            break
        marks = dirty_marks(conn, spec.name, through, size, after, newest_first=newest_first)
        # After the read, so a run frozen past its lock's idle time learns it here even when the
        # newer run left it nothing to read: it says so and exits non-zero, never ends as done.
        fence(conn.cursor(), spec.name, context, hold=False)
        if not marks:
            break
        settle_chunk(spark, conn, context, spec, marks=marks, metrics=metrics, set_aside=set_aside)
        after = marks[0][0] if newest_first else marks[-1][0]
        chunks += 1
    metrics.chunks += chunks
    # Pushed every run, 0 included: the alert clears once a run stores them.
    metrics.stream_values[spec.name, "buckets_set_aside"] = len(set_aside)
    if spec.gauges is not None:
        for key, value in spec.gauges(conn.cursor(), context).items():
            metrics.stream_values[spec.name, key] = value
    newest_visible = newest_event_time(conn, spec.name)
    if newest_visible is not None:
        metrics.newest_event_timestamp[spec.name] = newest_visible.replace(tzinfo=timezone.utc).timestamp()


def run(settings: JobSettings, spark: SparkSession, metrics: RunMetrics, streams: list[str] | None = None) -> None:
    for spec in configured(settings, streams or ()):
        aggregate_stream(spark, settings, spec, metrics)
