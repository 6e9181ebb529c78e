"""`python -m jobs migrate`: idempotent DDL for Cassandra and MySQL, for every stream.

Every stream's tables are created whether or not it is enabled, so enabling one later needs
no other step. A raw table's TTL follows its stream's retention on every run. Each partials
table gets an index on (period, key) when it has none: aggregate's rollup and prune read a
period's partials by key, and without it each read scans the period (or the whole table).
"""

from __future__ import annotations

from typing import Any

from jobs import schema
from jobs.metrics import RunMetrics
from jobs.settings import JobSettings
from jobs.stores import cassandra_session, mysql_connection
from jobs.streams import STREAMS, retention_days


def cassandra_statements(settings: JobSettings) -> list[str]:
    keyspace = settings.cassandra_keyspace
    statements = schema.cassandra_ddl(keyspace, settings.cassandra_replication_factor, settings.raw_ttl_days)
    for spec in STREAMS.values():
        ttl = retention_days(settings, spec.name) * 86_400
        statements += spec.cassandra_ddl(keyspace, ttl)
        statements.append(f"ALTER TABLE {keyspace}.{spec.raw_table} WITH default_time_to_live = {ttl}")
    return statements


def mysql_statements(settings: JobSettings) -> list[str]:
    statements = schema.mysql_ddl(settings.mysql_database)
    for spec in STREAMS.values():
        statements += spec.mysql_ddl(settings.mysql_database)
        if spec.operational_ddl is not None:
            statements += spec.operational_ddl(settings)
    return [*statements, *schema.recruit_ddl(settings.recruit_database)]


def run(settings: JobSettings, metrics: RunMetrics) -> None:
    cluster, session = cassandra_session(settings)
    try:
        for statement in cassandra_statements(settings):
            session.execute(statement, timeout=60)
    finally:
        cluster.shutdown()
    conn = mysql_connection(settings, database=False)
    try:
        cursor = conn.cursor()
        for statement in mysql_statements(settings):
            cursor.execute(statement)
        for spec in STREAMS.values():
            columns = (*spec.rollup.period, *spec.rollup.key)
            if not has_index(cursor, settings.mysql_database, spec.rollup.partials_table, columns):
                cursor.execute(
                    f"CREATE INDEX by_period_key ON `{settings.mysql_database}`.{spec.rollup.partials_table} "
                    f"({', '.join(columns)})"
                )
    finally:
        conn.close()


def has_index(cursor: Any, database: str, table: str, columns: tuple[str, ...]) -> bool:
    """Whether an index of the table starts with these columns, in this order (MySQL has no
    CREATE INDEX IF NOT EXISTS)."""
    cursor.execute(
        "SELECT index_name, column_name FROM information_schema.statistics "
        "WHERE table_schema = %s AND table_name = %s ORDER BY index_name, seq_in_index",
        (database, table),
    )
    indexes: dict[str, list[str]] = {}
    for index, column in cursor.fetchall():
        indexes.setdefault(index, []).append(column.lower())
    return any(tuple(found[: len(columns)]) == columns for found in indexes.values())
