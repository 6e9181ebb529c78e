"""`python -m jobs migrate`: idempotent DDL for Cassandra and MySQL."""

from __future__ import annotations

from jobs import schema
from jobs.metrics import RunMetrics
from jobs.settings import JobSettings
from jobs.stores import cassandra_session, mysql_connection


def run(settings: JobSettings, metrics: RunMetrics) -> None:
    cluster, session = cassandra_session(settings)
    try:
        for statement in schema.cassandra_ddl(
            settings.cassandra_keyspace, settings.cassandra_replication_factor, settings.raw_ttl_days
        ):
            session.execute(statement, timeout=60)
    finally:
        cluster.shutdown()
    conn = mysql_connection(settings, database=False)
    try:
        cursor = conn.cursor()
        for statement in [*schema.mysql_ddl(settings.mysql_database), *schema.recruit_ddl(settings.recruit_database)]:
            cursor.execute(statement)
    finally:
        conn.close()
