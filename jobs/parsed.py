"""A stream from a pure `parse(bytes)`: its raw columns, raw table and `classify` derive from
the fields it declares and the identity that keys an event, so a spec names only what is its
own (docs/adding-a-stream.md walks through an example)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql.types import DataType, DoubleType, IntegerType, LongType, StringType, TimestampType

from jobs.spec import AggregateContext, GlobalIdentity, ParseResult, Rollup, StreamSpec, python_classifier

# The Spark types a parsed field may have, and the Cassandra type each is stored as.
CQL_TYPES: dict[DataType, str] = {
    StringType(): "text",
    DoubleType(): "double",
    IntegerType(): "int",
    LongType(): "bigint",
    TimestampType(): "timestamp",
}
Fields = Sequence[tuple[str, DataType]]


def raw_table_ddl(
    table: str, columns: Sequence[tuple[str, str]], identity: Sequence[str], keyspace: str, ttl_seconds: int
) -> list[str]:
    """The raw table of `columns` (name, CQL type): partitioned by (bucket, shard), so no
    partition outgrows a bucket's share, and one row per identity within them, so an event read
    twice is written onto itself."""
    listed = ",\n  ".join(f"{name} {cql}" for name, cql in columns)
    return [
        f"""CREATE TABLE IF NOT EXISTS {keyspace}.{table} (
  bucket timestamp,
  shard int,
  event_time timestamp,
  {listed},
  PRIMARY KEY ((bucket, shard), {", ".join(identity)})
) WITH default_time_to_live = {ttl_seconds}"""
    ]


def cql_columns(fields: Fields) -> tuple[tuple[str, str], ...]:
    """Parsed fields (name, Spark type) as raw columns (name, CQL type)."""
    return tuple((name, CQL_TYPES[kind]) for name, kind in fields)


def parsed_stream(
    *,
    name: str,
    topics: tuple[str, ...],
    bucket_seconds: int,
    raw_table: str,
    fields: Fields,
    identity: Sequence[str],
    parse: Callable[[bytes], ParseResult],
    partials: Callable[[DataFrame, AggregateContext], DataFrame],
    mysql_ddl: Callable[[str], list[str]],
    rollup: Rollup,
    aggregate_columns: tuple[str, ...] = (),
    family: str = "",
    retention_days: int | None = None,
    global_identity: GlobalIdentity | None = None,
    **more: Any,
) -> StreamSpec:
    """A spec whose raw columns, raw DDL and `classify` follow from `fields` (name, Spark type),
    `identity` (the fields, `event_time` among them if it is one, that tell one event from
    another within a bucket) and `parse`. `more` passes any other StreamSpec field through."""
    unknown = set(identity) - {"event_time", *(n for n, _ in fields)}
    if unknown:
        raise ValueError(f"stream {name!r}: identity {sorted(unknown)} names no field")
    untyped = [n for n, kind in fields if kind not in CQL_TYPES]
    if untyped:
        raise ValueError(f"stream {name!r}: fields {untyped} have a type a raw table cannot hold")
    return StreamSpec(
        name=name,
        topics=topics,
        bucket_seconds=bucket_seconds,
        raw_table=raw_table,
        raw_columns=("bucket", "shard", "event_time", *(n for n, _ in fields)),
        cassandra_ddl=functools.partial(raw_table_ddl, raw_table, cql_columns(fields), tuple(identity)),
        mysql_ddl=mysql_ddl,
        classify=python_classifier(parse, fields, tuple(identity), bucket_seconds),
        parse=parse,
        partials=partials,
        aggregate_columns=aggregate_columns,
        rollup=rollup,
        family=family,
        retention_days=retention_days,
        global_identity=global_identity,
        **more,
    )
