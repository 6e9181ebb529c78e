"""What a workload declares to run on the stream engine, and the helpers specs share.

A stream is one frozen `StreamSpec` of plain module-level functions and data (see
`jobs/streams/`). The engine (`ingest`, `aggregate`, `backfill`, `migrate`) owns Kafka,
checkpoints, raw writes, rejects, dirty marks, locking, chunking, and the replacement of
every period a recompute touches, so a vanished key leaves MySQL without the stream doing
anything for it.

The contract of the frame a stream's `classify` returns (one row per raw row or reject):
`topic, partition, offset, payload, reason, detail, bucket, shard, event_time` plus the raw
table's columns. `reason` is NULL for a valid row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, StringType, StructField, StructType, TimestampType

if TYPE_CHECKING:  # the settings read the registry of specs: only their type is needed here
    from jobs.settings import JobSettings

STREAM_NAME = r"^[a-z][a-z0-9_]{0,23}$"
# The columns every classified frame starts with (see the module docstring).
CLASSIFIED_HEAD = (
    "topic",
    "partition",
    "offset",
    "timestamp",  # the Kafka record's: where its reject row lies (jobs/schema.py)
    "payload",
    "reason",
    "detail",
    "bucket",
    "shard",
    "event_time",
)


class Unavailable(RuntimeError):
    """A dependency a `parse` asks (a schema registry) did not answer. Not the message's fault:
    the batch fails and is read again, and the message never becomes a reject."""


@dataclass(frozen=True)
class Reject:
    """Why one message is not an event. `detail` names the offending value when there is one."""

    reason: str
    detail: str | None = None


@dataclass(frozen=True)
class Placement:
    """What ingest knows when it classifies a micro-batch: the clock and the sanity bounds."""

    now: datetime  # naive UTC
    shards: int
    max_payload_bytes: int
    max_future_seconds: int
    retention_days: int  # 0 = keep forever: no lower bound on event time
    schema_registry_url: str = ""  # Confluent-API registry for Avro writer schemas ("" = built-in)
    schema_registry_wait_seconds: float = 0  # how long a lookup waits for a failing registry

    @property
    def now_micros(self) -> int:
        """`now` in µs since the epoch, read as UTC, never in the process's zone."""
        return int(self.now.replace(tzinfo=timezone.utc).timestamp() * 1_000_000)


@dataclass(frozen=True)
class RunContext:
    """One aggregate run of one stream, as its SQL hooks see it."""

    run_id: str  # stamps the rows this run changed (e.g. orders' batch_id)
    settings: JobSettings
    # The run's fencing token and its lock (jobs/aggregate.py): a transaction commits only while
    # the lease is still this run's and its lock connection still holds the lock.
    lease: int = 0
    lock_name: str = ""
    lock_connection_id: int = 0


# A SQL step of a rollup: (cursor inside the chunk's transaction, affected periods, run) -> rows touched.
PeriodsHook = Callable[[Any, set[tuple[Any, ...]], RunContext], int]


@dataclass(frozen=True)
class Rollup:
    """How a stream's partials become its MySQL table.

    The partials table holds exact per-bucket sums with the `period` columns each row rolls up
    into. After a chunk's partials are replaced, the engine re-rolls every period the chunk's
    old or new partials touched: `upsert` (an INSERT … SELECT … ON DUPLICATE KEY UPDATE with a
    `{periods}` placeholder for `(<period columns>) IN (…)`) writes what the partials produce,
    and rows of those periods whose key no partial produces any more are deleted."""

    table: str
    partials_table: str
    partial_columns: tuple[str, ...]  # the partials table's columns, `bucket` first
    key: tuple[str, ...]  # the target's unique key without the period columns
    period: tuple[str, ...]
    upsert: str
    # A further step on the same transaction, given the periods just re-rolled (e.g. orders:
    # customers' totals -> sales by source and state).
    then: PeriodsHook | None = None
    # Set when every partial column besides bucket, period and key is a sum (NOT NULL, integer
    # or DECIMAL, so adding and taking away is exact). The engine then keeps each (period,
    # key)'s totals in `totals_table`, adding a chunk's new partials and taking away its old
    # ones, and `upsert` reads `{source}` (the totals) instead of every partial of the period:
    # one row per key, however many buckets the period has filled so far.
    keeps_totals: bool = False

    @property
    def sums(self) -> tuple[str, ...]:
        """The measures the totals add up: every partial column but bucket, period and key."""
        grouped = {"bucket", *self.period, *self.key}
        return tuple(c for c in self.partial_columns if c not in grouped) if self.keeps_totals else ()

    @property
    def totals_table(self) -> str:
        return f"{self.partials_table.removesuffix('_partials')}_totals"

    @property
    def source(self) -> str:
        """The table `upsert` and the prune read: the totals when the rollup keeps them."""
        return self.totals_table if self.keeps_totals else self.partials_table


@dataclass(frozen=True)
class AggregateContext:
    """What `partials` knows besides the raw rows: `report_hours` holds each bucket of the
    chunk with its report-time-zone `dates`, `hours` and `hour` (the local hour's start),
    resolved in Python (jobs/buckets.py); streams join it rather than convert zones in Spark."""

    report_hours: DataFrame


@dataclass(frozen=True)
class GlobalIdentity:
    """The raw column that identifies an event in every bucket, and its CQL type: the newest
    version of an event replaces the others wherever their buckets were (jobs/versions.py)."""

    column: str
    cql_type: str


@dataclass(frozen=True)
class StreamSpec:
    """One workload. `name` and `bucket_seconds` are permanent: they key raw rows, marks,
    rejects, checkpoints and metrics."""

    name: str
    topics: tuple[str, ...]
    bucket_seconds: int
    raw_table: str
    raw_columns: tuple[str, ...]  # written to `raw_table`, `bucket, shard, event_time` first
    cassandra_ddl: Callable[[str, int], list[str]]  # (keyspace, ttl seconds) -> statements
    mysql_ddl: Callable[[str], list[str]]  # database -> statements
    # Kafka records (value, topic, partition, offset) -> the classified frame (module docstring).
    classify: Callable[[DataFrame, Placement], DataFrame]
    # Raw rows of some buckets -> partial rows with `rollup.partial_columns`.
    partials: Callable[[DataFrame, AggregateContext], DataFrame]
    rollup: Rollup
    # Whether `classify` reads Avro writer schemas from the registry (Placement.schema_registry_url)
    # when one is configured: ingest then checks at start that it answers as one.
    schema_registry: bool = False
    # The pure parse, message bytes -> rows or a Reject: what `classify` is built on
    # (jobs/parsed.py), or what it is checked against where it is Spark SQL (tracking). Required.
    parse: Callable[[bytes], ParseResult] | None = None
    # Which raw rows count towards freshness (all when None).
    counted: Callable[[], Column] | None = None
    # The raw columns `partials` and `counted` read besides bucket, shard and event_time:
    # aggregate reads and caches only these (empty: every raw column).
    aggregate_columns: tuple[str, ...] = ()
    # Each valid raw row's kind, over the raw columns, counted for the run metrics (none when None),
    # and every value it gives: ingest counts each while the raw pass reads the batch.
    kind: Callable[[], Column] | None = None
    kinds: tuple[str, ...] = ()
    # Tables of the operational database the stream reads (e.g. orders' shop.customers).
    operational_ddl: Callable[[JobSettings], list[str]] | None = None
    # Once per aggregate run, under the stream's lock, in its own transaction, before the
    # chunks: follow changes of what the rollup joins with. Returns rows touched.
    before_run: Callable[[Any, RunContext], int] | None = None
    # Values pushed as `tidemark_stream_value{stream, name}` after each aggregate run.
    gauges: Callable[[Any, RunContext], dict[str, float]] | None = None
    # The stream users name when one workload has several parts (userlogs: one part per
    # topic, each with its own raw table and rollup). `--stream <family>` runs every part;
    # enabled and retention are the family's settings, the topic is each part's own.
    family: str = ""
    # Days raw events are kept by default (TIDEMARK_<STREAM>_RETENTION_DAYS overrides; 0 = for
    # ever, None = TIDEMARK_RAW_TTL_DAYS). A family's parts share their first part's.
    retention_days: int | None = None
    # Set when an event's identity holds across buckets (an order ID), not only within one.
    global_identity: GlobalIdentity | None = None

    @property
    def stream(self) -> str:
        """The name users run and configure: the family, or the stream itself."""
        return self.family or self.name


def check_rollup(stream: str, rollup: Rollup) -> None:
    if rollup.partial_columns[0] != "bucket":
        raise ValueError(f"stream {stream!r}: partial_columns must start with bucket")
    if "{periods}" not in rollup.upsert:
        raise ValueError(f"stream {stream!r}: the rollup's upsert needs a {{periods}} placeholder")
    if rollup.keeps_totals and "{source}" not in rollup.upsert:
        raise ValueError(f"stream {stream!r}: a rollup that keeps totals reads them as {{source}} in its upsert")


def index(*streams: StreamSpec) -> dict[str, StreamSpec]:
    """The registry: checks each spec and refuses two streams sharing a name, topic or table."""
    seen: dict[str, str] = {}
    for spec in streams:
        if not re.match(STREAM_NAME, spec.name):
            raise ValueError(f"stream {spec.name!r}: a name is 1-24 lower-case letters, digits and _")
        if spec.bucket_seconds <= 0 or 3600 % spec.bucket_seconds:
            raise ValueError(f"stream {spec.name!r}: bucket_seconds must divide an hour")
        if spec.raw_columns[:3] != ("bucket", "shard", "event_time"):
            raise ValueError(f"stream {spec.name!r}: raw_columns must start with bucket, shard, event_time")
        clashing = set(spec.raw_columns) & set(CLASSIFIED_HEAD)
        if clashing - {"bucket", "shard", "event_time"}:
            raise ValueError(f"stream {spec.name!r}: raw columns {sorted(clashing)} are the classified frame's own")
        if spec.global_identity is not None and spec.global_identity.column not in spec.raw_columns:
            raise ValueError(f"stream {spec.name!r}: global_identity {spec.global_identity.column} is not a raw column")
        if spec.parse is None:
            # The judgement of a message as a plain function, even where `classify` is faster
            # in Spark SQL (tracking): what that path is checked against.
            raise ValueError(f"stream {spec.name!r}: declare its pure parse(bytes)")
        if (spec.kind is None) != (not spec.kinds):
            raise ValueError(f"stream {spec.name!r}: kind and kinds (the values it gives) come together")
        unknown = set(spec.aggregate_columns) - set(spec.raw_columns)
        if unknown:
            raise ValueError(f"stream {spec.name!r}: aggregate_columns {sorted(unknown)} are not raw columns")
        check_rollup(spec.name, spec.rollup)
        names = [
            f"name {spec.name}",
            *(f"topic {t}" for t in spec.topics),
            f"table {spec.raw_table}",
            f"table {spec.rollup.table}",
            f"table {spec.rollup.partials_table}",
            *([f"table {spec.rollup.totals_table}"] if spec.rollup.keeps_totals else []),
        ]
        for name in names:
            if name in seen:
                raise ValueError(f"stream {spec.name!r}: {name} is already stream {seen[name]!r}'s")
            seen[name] = spec.name
    return {spec.name: spec for spec in streams}


# --- helpers a stream calls -------------------------------------------------------------------

# ISO-8601: date, `T` or a space, time, an optional fraction, and `Z`, an offset or nothing (UTC).
ISO_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)


def iso_instant(text: str) -> datetime | None:
    """The moment an ISO-8601 string names, as naive UTC; None when it names none."""
    match = ISO_TIME.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micros)
    except ValueError:
        return None
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        if offset >= timedelta(hours=24):
            return None
        try:
            moment -= sign * offset
        except OverflowError:  # 0001-01-01T00:00+01:00 and 9999-12-31T23:59-01:00 name no datetime
            return None
    return moment


def row_constructors(
    rows: Sequence[tuple[Any, ...]], width: int, per_statement: int = 1_000
) -> Iterator[tuple[str, list[Any]]]:
    """`(%s, …), (%s, …)` for batches of rows, with their values flattened: IN lists that keep
    every statement far below max_allowed_packet."""
    one = "(" + ", ".join(["%s"] * width) + ")"
    for start in range(0, len(rows), per_statement):
        batch = rows[start : start + per_statement]
        yield ", ".join([one] * len(batch)), [value for row in batch for value in row]


def bucket_of(event_micros: Column, bucket_seconds: int) -> Column:
    """The start of the bucket holding an event time given in microseconds since the epoch."""
    seconds = F.floor(event_micros / 1_000_000 / bucket_seconds) * bucket_seconds
    return F.timestamp_seconds(seconds)


# No stream accepts an event from before the Unix epoch, whatever its retention: no real
# event is that old, and a year-1 time gave a bucket that Python's datetime, MySQL's DATETIME
# and every downstream step cannot hold (one such order stopped the orders stream).
OLDEST_EVENT_MICROS = 0


def batch_constant(value: int) -> Column:
    """A number that changes every micro-batch (the clock, and what derives from it), as a
    Column Spark's generated code refers to rather than contains. A long or timestamp literal
    is written into the generated Java, so each batch compiled new classes and the JIT compiled
    them again: about a third of a continuous driver's CPU. A decimal literal is passed by
    reference, and decimal(20,0) holds any long exactly, so comparisons and sums stay exact."""
    return F.lit(Decimal(value)).cast("decimal(20,0)")


def time_bounds_micros(placement: Placement) -> tuple[int, int]:
    """The oldest and newest event time (µs) ingest accepts: retention back (never before the
    epoch), max_future ahead."""
    now_micros = placement.now_micros
    oldest = OLDEST_EVENT_MICROS
    if placement.retention_days:
        oldest = max(oldest, now_micros - placement.retention_days * 86_400 * 1_000_000)
    return oldest, now_micros + placement.max_future_seconds * 1_000_000


# Cassandra refuses a TTL above 20 years; a longer retention keeps rows that long at most.
MAX_TTL_SECONDS = 20 * 365 * 86_400
RAW_TTL_COLUMN = "ttl_seconds"  # the connector's per-row TTL (option `ttl`), not a table column


def seconds_to_live(event_time: Column, placement: Placement) -> Column:
    """A raw row's TTL: it expires `retention` after its event time, not after it was written,
    so a late, re-sent or replayed event leaves with its bucket's other rows (a recompute never
    sees half a bucket: jobs/backfill.py skips buckets older than the retention). Never below
    one second: a TTL of 0 would keep the row forever."""
    deadline = placement.now_micros - placement.retention_days * 86_400 * 1_000_000
    left = F.floor((F.unix_micros(event_time) - batch_constant(deadline)) / 1_000_000)
    return F.least(F.greatest(left, F.lit(1)), F.lit(MAX_TTL_SECONDS)).cast("int")


def outside_bounds(micros: Column, placement: Placement) -> Column:
    oldest, newest = time_bounds_micros(placement)
    # Differences, not `micros < bound`: Spark unwraps a comparison of a widened long with a
    # constant into one with a long literal, which would be written into the code again.
    return (micros - batch_constant(oldest) < 0) | (micros - batch_constant(newest) > 0)


def classified(*, reason: Column, detail: Column, bucket: Column, shard: Column, event_time: Column) -> list[Column]:
    """The head of every classified frame (module docstring); the raw columns follow it."""
    return [
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp"),
        F.col("payload"),
        reason.alias("reason"),
        detail.alias("detail"),
        bucket.alias("bucket"),
        shard.cast("int").alias("shard"),
        event_time.alias("event_time"),
    ]


ParseResult = list[dict[str, Any]] | list[dict[str, Any] | Reject] | Reject


def python_classifier(
    parse: Callable[[bytes], ParseResult],
    fields: Sequence[tuple[str, DataType]],
    identity: str | Sequence[str],
    bucket_seconds: int,
) -> Callable[[DataFrame, Placement], DataFrame]:
    """A `classify` from a pure Python `parse(bytes) -> rows | Reject`.

    Each row is a dict with `event_time` (naive UTC datetime) and the `fields`; `identity`
    names the field (or fields, `event_time` among them if it is one) hashed into the shard.
    One message may give many rows, and a row may be a Reject of its own (an element of an
    array): the message's rejected elements become one reject row naming their indexes, its
    good ones are kept. The engine adds what every stream shares: oversize and absurd-time
    rejects, bucket and shard."""
    # The reject's fields are named apart from any stream's own (auth events have a `detail`).
    row_type = StructType(
        [
            StructField("_reject_reason", StringType()),
            StructField("_reject_detail", StringType()),
            StructField("event_time", TimestampType()),
            *(StructField(n, t) for n, t in fields),
        ]
    )
    names = [name for name, _ in fields]
    empty = (None,) * (len(names) + 1)
    identities = (identity,) if isinstance(identity, str) else tuple(identity)

    def parse_one(value: bytes | bytearray | None) -> list[tuple[Any, ...]]:
        try:
            got = parse(bytes(value or b""))
        except Unavailable:
            raise  # the batch fails and is retried: an outage is never the message's fault
        except Exception as e:  # noqa: BLE001 - one record must never stop the stream
            # A parse is meant never to raise; if one does, the record is a reject that says
            # why, and the batch goes on rather than failing and being retried for ever.
            got = Reject("parse_error", f"{type(e).__name__}: {e}"[:1000])
        if isinstance(got, Reject):
            return [(got.reason, got.detail, *empty)]
        rows = [(None, None, row["event_time"], *(row[n] for n in names)) for row in got if isinstance(row, dict)]
        bad = [(i, row) for i, row in enumerate(got) if isinstance(row, Reject)]
        if bad:
            detail = "; ".join(f"element {i}: {r.reason}{f' {r.detail}' if r.detail else ''}" for i, r in bad)
            rows.append((bad[0][1].reason, detail[:1000], *empty))
        return rows

    def classify(records: DataFrame, placement: Placement) -> DataFrame:
        # A UDF binds to the JVM it first runs in: made per call, it survives a process that
        # stops its Spark session and starts another (the test tiers do).
        parse_udf = F.udf(parse_one, ArrayType(row_type))
        size = F.length("value")
        oversize = size > placement.max_payload_bytes
        parsed = records.select(
            "topic",
            "partition",
            "offset",
            "timestamp",
            F.col("value").alias("payload"),
            size.alias("payload_bytes"),
            # An oversize payload is never parsed: it is a reject whatever it holds.
            F.when(~oversize, parse_udf("value")).alias("p"),
        )
        # An oversize message (never parsed) stays one row; an empty array gives none.
        exploded = parsed.select(
            "topic",
            "partition",
            "offset",
            "timestamp",
            "payload",
            "payload_bytes",
            F.explode(F.when(F.col("p").isNull(), F.array(F.lit(None).cast(row_type))).otherwise(F.col("p"))).alias(
                "r"
            ),
        ).select("*", F.col("r._reject_reason").alias("parse_reason"), F.col("r._reject_detail").alias("parse_detail"))
        micros = F.unix_micros(F.col("r.event_time"))
        reason = (
            F.when(F.col("payload_bytes") > placement.max_payload_bytes, "oversize")
            .when(F.col("parse_reason").isNotNull(), F.col("parse_reason"))
            .when(outside_bounds(micros, placement), "absurd_time")
        )
        detail = (
            F.when(reason == "oversize", F.format_string(f"%d bytes > {placement.max_payload_bytes}", "payload_bytes"))
            .when(reason == "absurd_time", F.format_string("event time %s", F.col("r.event_time").cast("string")))
            .otherwise(F.col("parse_detail"))
        )
        return exploded.select(
            *classified(
                reason=reason,
                detail=detail,
                bucket=bucket_of(micros, bucket_seconds),
                shard=F.pmod(F.xxhash64(*(F.col(f"r.{name}") for name in identities)), F.lit(placement.shards)),
                event_time=F.col("r.event_time"),
            ),
            *(F.col(f"r.{name}").alias(name) for name in names),
        )

    return classify
