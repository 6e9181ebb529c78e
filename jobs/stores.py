"""Connections to MySQL and Cassandra, and the few statements the jobs share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import mysql.connector
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, Session
from cassandra.policies import RoundRobinPolicy
from pyspark.sql import DataFrame

from jobs.settings import JobSettings
from wire.store_tls import cassandra_ssl_context, cassandra_ssl_options, mysql_options


def mysql_connection(settings: JobSettings, *, database: bool = True) -> Any:
    return mysql.connector.connect(
        host=settings.mysql_host,
        port=settings.mysql_port,
        user=settings.mysql_user,
        password=settings.mysql_password.get_secret_value(),
        database=settings.mysql_database if database else None,
        autocommit=True,
        time_zone="+00:00",
        **mysql_options(settings.mysql_ca_file),
    )


def cassandra_session(settings: JobSettings) -> tuple[Cluster, Session]:
    auth = None
    if settings.cassandra_username:
        auth = PlainTextAuthProvider(settings.cassandra_username, settings.cassandra_password.get_secret_value())
    cluster = Cluster(
        settings.cassandra_hosts.split(","),
        port=settings.cassandra_port,
        auth_provider=auth,
        protocol_version=5,
        load_balancing_policy=RoundRobinPolicy(),
        ssl_context=cassandra_ssl_context(settings.cassandra_ca_file),
        ssl_options=cassandra_ssl_options(settings.cassandra_tls_server_name),
    )
    return cluster, cluster.connect()


# Per read and write rather than in the session: one Spark session may serve several settings.
def write_cassandra(
    frame: DataFrame,
    settings: JobSettings,
    table: str,
    *,
    ttl_column: str | None = None,
    write_time_column: str | None = None,
) -> None:
    """Appends the frame's rows. `ttl_column` names a column holding each row's TTL in seconds,
    `write_time_column` one holding its write time in µs (the connector writes them as USING
    TTL and USING TIMESTAMP, not as columns)."""
    writer = (
        frame.write.format("org.apache.spark.sql.cassandra")
        .mode("append")
        .options(keyspace=settings.cassandra_keyspace, table=table)
    )
    if ttl_column is not None:
        writer = writer.option("ttl", ttl_column)
    if write_time_column is not None:
        writer = writer.option("writetime", write_time_column)
    writer.option("spark.cassandra.output.consistency.level", settings.cassandra_write_consistency).save()


def read_cassandra(frame_reader: Any, settings: JobSettings, table: str) -> DataFrame:
    reader = frame_reader.format("org.apache.spark.sql.cassandra").option(
        "spark.cassandra.input.consistency.level", settings.cassandra_read_consistency
    )
    loaded: DataFrame = reader.options(keyspace=settings.cassandra_keyspace, table=table).load()
    return loaded


MARKS_PER_STATEMENT = 5_000  # one INSERT stays far below max_allowed_packet


def mark_dirty(settings: JobSettings, stream: str, buckets: Iterable[datetime]) -> int:
    """Marks buckets as changed now; a bucket marked again gets the newer mark. Written in
    bounded statements, each committed, in bucket order (one lock order for every writer)."""
    conn = mysql_connection(settings)
    marked = 0
    try:
        cursor = conn.cursor()
        for batch in _batches(buckets):
            cursor.executemany(
                "INSERT INTO dirty_buckets (stream, bucket, marked_at) VALUES (%s, %s, NOW(6)) "
                "ON DUPLICATE KEY UPDATE marked_at = NOW(6)",
                [(stream, b) for b in batch],
            )
            marked += len(batch)
    finally:
        conn.close()
    return marked


def _batches(buckets: Iterable[datetime]) -> Iterator[list[datetime]]:
    batch: list[datetime] = []
    for bucket in buckets:
        batch.append(bucket)
        if len(batch) == MARKS_PER_STATEMENT:
            yield sorted(set(batch))
            batch = []
    if batch:
        yield sorted(set(batch))


def scalar(conn: Any, sql: str, *params: Any) -> Any:
    """The first column of the first row, or None."""
    cursor = conn.cursor()
    cursor.execute(sql, params)
    row = cursor.fetchone()
    return row[0] if row else None
