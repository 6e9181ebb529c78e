"""One event per identity across buckets, for streams whose identity is global (orders by
order ID, sessions by session ID): a re-sent event with a corrected time lands in another
bucket, and the newest version must replace the earlier one wherever its bucket was.

A version is the record's Kafka timestamp in microseconds (never later than ingest's clock, so
a producer's clock far ahead cannot pin an event for ever), its last three digits the offset
modulo 1,000 to tell apart records of one millisecond. Newest = largest. Each raw row of such a
stream is written with its version as its Cassandra write time, and each batch then:

1. appends (identity, version, bucket, shard) of its rows to `<raw_table>_versions`;
2. reads back every version of the identities it wrote (a direct join: one partition each);
3. deletes, for every version but the newest, the raw row at its bucket and shard `USING
   TIMESTAMP` its version: that removes exactly what that version wrote, never a newer
   version's cells, even at the same key, and shadows a later replay of it;
4. marks those buckets dirty, so the next aggregate recomputes them without the old version.

Each step can run again, so a crash replays the batch onto the same result. Two runs at once
both append before they read, so the one that appends last sees every version and removes
every stale row. A version row lives as long as its raw row (the same TTL). `migrate` records
the rows an older install wrote (`record_existing`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from cassandra.concurrent import execute_concurrent_with_args
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from jobs.settings import JobSettings
from jobs.spec import GlobalIdentity, batch_constant
from jobs.stores import cassandra_session, read_cassandra, write_cassandra

log = logging.getLogger("tidemark.versions")

VERSION_COLUMN = "version"  # on raw rows only as the connector's write time (option `writetime`)
SAME_MILLISECOND = 1_000  # records of one millisecond, told apart by their offset modulo this


def versions_table(raw_table: str) -> str:
    return f"{raw_table}_versions"


def versions_ddl(keyspace: str, raw_table: str, identity: GlobalIdentity, ttl_seconds: int) -> str:
    return f"""CREATE TABLE IF NOT EXISTS {keyspace}.{versions_table(raw_table)} (
  identity {identity.cql_type},
  version bigint,
  bucket timestamp,
  shard int,
  PRIMARY KEY ((identity), version)
) WITH CLUSTERING ORDER BY (version DESC) AND default_time_to_live = {ttl_seconds}"""


def version_of(kafka_time: Column, offset: Column, now_micros: int) -> Column:
    """A record's version (module docstring)."""
    millis = F.least(F.unix_millis(kafka_time), batch_constant(now_micros // 1_000)).cast("long")
    return millis * SAME_MILLISECOND + F.pmod(offset, F.lit(SAME_MILLISECOND))


def stale_versions(versions: DataFrame) -> DataFrame:
    """Every version of an identity but its newest."""
    newest = F.max(VERSION_COLUMN).over(Window.partitionBy("identity"))
    return versions.withColumn("newest", newest).where(F.col(VERSION_COLUMN) < F.col("newest")).drop("newest")


def settle(
    rows: DataFrame, identity: GlobalIdentity, raw_table: str, settings: JobSettings, ttl: str | None
) -> list[datetime]:
    """Steps 1 to 3 for raw rows just written (with `version`, and the TTL column `ttl` when the
    stream has a retention); returns the buckets of the versions removed, to mark dirty."""
    table = versions_table(raw_table)
    written = rows.select(
        F.col(identity.column).alias("identity"), VERSION_COLUMN, "bucket", "shard", *([ttl] if ttl else [])
    ).distinct()
    write_cassandra(written, settings, table, ttl_column=ttl)
    # directJoinSetting=on: one partition read per identity, never a scan of every version.
    known = read_cassandra(rows.sparkSession.read.option("directJoinSetting", "on"), settings, table)
    every = written.select("identity").distinct().join(known, ["identity"])
    stale = stale_versions(every).select("bucket", "shard", "identity", VERSION_COLUMN).collect()
    if not stale:
        return []
    cluster, session = cassandra_session(settings)
    try:
        delete = session.prepare(
            f"DELETE FROM {settings.cassandra_keyspace}.{raw_table} USING TIMESTAMP ? "
            f"WHERE bucket = ? AND shard = ? AND {identity.column} = ?"
        )
        # Many at once: a batch of re-sent events must not wait on one round trip each.
        keys = [(row.version, row.bucket, row.shard, row.identity) for row in stale]
        execute_concurrent_with_args(session, delete, keys, concurrency=64, raise_on_first_error=True)
    finally:
        cluster.shutdown()
    log.info("%s: %d earlier versions of re-sent events removed from their buckets", raw_table, len(stale))
    return sorted({row.bucket for row in stale})


def record_existing(session: Any, keyspace: str, raw_table: str, identity: GlobalIdentity) -> int:
    """Records the version of every raw row an install wrote before versions existed (once: while
    the versions table is empty and the raw table is not); returns the rows recorded. Such a row's
    version is its write time (when ingest wrote it, so never later than a re-send it has yet to
    see), and its version row takes the raw row's remaining TTL."""
    table = f"{keyspace}.{versions_table(raw_table)}"
    if session.execute(f"SELECT identity FROM {table} LIMIT 1").one() is not None:
        return 0
    insert = session.prepare(f"INSERT INTO {table} (identity, version, bucket, shard) VALUES (?, ?, ?, ?) USING TTL ?")
    rows = session.execute(
        f"SELECT {identity.column}, WRITETIME(event_time) AS written, TTL(event_time) AS ttl, bucket, shard "
        f"FROM {keyspace}.{raw_table}",
        timeout=60,
    )
    # TTL 0 in an INSERT is no TTL: a raw row kept forever keeps its version as long.
    values = ((row[0], row.written, row.bucket, row.shard, row.ttl or 0) for row in rows)
    results = execute_concurrent_with_args(
        session, insert, values, concurrency=64, raise_on_first_error=True, results_generator=True
    )
    return sum(1 for _ in results)
