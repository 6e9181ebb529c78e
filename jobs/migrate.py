"""`python -m jobs migrate`: idempotent DDL for Cassandra and MySQL, for every stream.

Every stream's tables are created whether or not it is enabled, so enabling one later needs
no other step. A raw table's TTL follows its stream's retention on every run.
"""

from __future__ import annotations

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
    finally:
        conn.close()
