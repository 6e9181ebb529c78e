"""`python -m jobs migrate`: idempotent DDL for Cassandra and MySQL, for every stream.

Every stream's tables are created whether or not it is enabled, so enabling one later needs
no other step. A raw table's TTL follows its stream's retention on every run. Each partials
table gets an index on (period, key) when it has none: aggregate's rollup and prune read a
period's partials by key, and without it each read scans the period (or the whole table).
Rejects that older installs keyed by the day they were seen, or by Kafka partition alone, move to
a table keyed by topic, partition, record day and offset (jobs/schema.py), their payloads cut to
`TIDEMARK_MAX_PAYLOAD_BYTES`. The orders and sessions an older install wrote get their versions
recorded (jobs/versions.py). Tables an older install made with a case-folding or space-padding
collation are converted to the binary NO PAD one (schema.binary_collation). Money columns that
older installs created as DOUBLE become DECIMAL
(MODIFY rounds each stored value to the micro-unit; a bucket's next recompute is exact). Each
stream's shard count is recorded on its first run and a different one refused (jobs/layout.py).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from jobs import layout, schema, totals, versions
from jobs.metrics import RunMetrics
from jobs.settings import JobSettings
from jobs.spec import StreamSpec
from jobs.stores import cassandra_session, mysql_connection
from jobs.streams import STREAMS, parts, retention_days

log = logging.getLogger("tidemark.migrate")

# (table, column, definition) of money that tidemark once kept as DOUBLE.
DECIMAL_MONEY = (
    ("tracking_partials", "bid_sum", "DECIMAL(24,6) NOT NULL"),
    ("events", "bid_set", "DECIMAL(24,6) NULL"),
    ("events", "spend_hour", "DECIMAL(24,6) NOT NULL DEFAULT 0"),
)


def cassandra_statements(settings: JobSettings, specs: Sequence[StreamSpec]) -> list[str]:
    keyspace = settings.cassandra_keyspace
    statements = schema.cassandra_ddl(keyspace, settings.cassandra_replication_factor, settings.raw_ttl_days)
    for spec in specs:
        ttl = retention_days(settings, spec.name) * 86_400
        statements += spec.cassandra_ddl(keyspace, ttl)
        statements.append(f"ALTER TABLE {keyspace}.{spec.raw_table} WITH default_time_to_live = {ttl}")
        if spec.global_identity is not None:
            table = versions.versions_table(spec.raw_table)
            statements.append(versions.versions_ddl(keyspace, spec.raw_table, spec.global_identity, ttl))
            statements.append(f"ALTER TABLE {keyspace}.{table} WITH default_time_to_live = {ttl}")
    return statements


def mysql_statements(settings: JobSettings, specs: Sequence[StreamSpec], collation: str) -> list[str]:
    statements = [*schema.mysql_ddl(settings.mysql_database, collation), layout.ddl(settings.mysql_database)]
    for spec in specs:
        statements += spec.mysql_ddl(settings.mysql_database)
        if spec.operational_ddl is not None:
            statements += spec.operational_ddl(settings)
    return [*statements, *schema.recruit_ddl(settings.recruit_database)]


def as_owner(settings: JobSettings) -> JobSettings:
    """The settings with the accounts that own the tables: MySQL's migrate user and, when one is
    configured, Cassandra's admin role. DDL runs as these, never as the jobs' accounts."""
    update: dict[str, Any] = {
        "mysql_user": settings.mysql_migrate_user,
        "mysql_password": settings.mysql_migrate_password,
    }
    if settings.cassandra_admin_username:
        update |= {
            "cassandra_username": settings.cassandra_admin_username,
            "cassandra_password": settings.cassandra_admin_password,
        }
    return settings.model_copy(update=update)


def cql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def role_and_password(settings: JobSettings) -> tuple[str, str]:
    """The jobs' role and its password, as CQL string literals."""
    return cql_string(settings.cassandra_username), cql_string(settings.cassandra_password.get_secret_value())


def manages_role(settings: JobSettings) -> bool:
    return bool(settings.cassandra_admin_username and settings.cassandra_username)


def role_statements(settings: JobSettings) -> list[str]:
    """The jobs' Cassandra role: it logs in with its password and may read and change the
    keyspace's rows, but not create, alter or drop a table, nor reach another keyspace."""
    if not manages_role(settings):
        return []
    role, password = role_and_password(settings)
    keyspace = settings.cassandra_keyspace
    return [
        f"CREATE ROLE IF NOT EXISTS {role} WITH PASSWORD = {password} AND LOGIN = true",
        f"GRANT SELECT ON KEYSPACE {keyspace} TO {role}",
        f"GRANT MODIFY ON KEYSPACE {keyspace} TO {role}",
    ]


def password_statement(settings: JobSettings) -> str:
    """Sets the jobs' role's password to the one in their settings (a rotated Secret)."""
    role, password = role_and_password(settings)
    return f"ALTER ROLE {role} WITH PASSWORD = {password}"


def jobs_can_log_in(settings: JobSettings) -> bool:
    from cassandra import AuthenticationFailed
    from cassandra.cluster import NoHostAvailable

    try:
        cluster, _ = cassandra_session(settings)
    except NoHostAvailable as e:
        if all(isinstance(error, AuthenticationFailed) for error in e.errors.values()):
            return False
        raise
    cluster.shutdown()
    return True


def run(settings: JobSettings, metrics: RunMetrics, names: Sequence[str] = ()) -> None:
    """`names`: the streams whose tables to create (default every stream, enabled or not); the
    shared tables and the jobs' accounts always."""
    specs = [STREAMS[part] for part in parts(names)] or list(STREAMS.values())
    cluster, session = cassandra_session(as_owner(settings))
    try:
        for statement in cassandra_statements(settings, specs) + role_statements(settings):
            session.execute(statement, timeout=60)
        # Only when the password changed: Cassandra refuses a role's password change more often
        # than every few seconds, and a migrate may follow another at once.
        if manages_role(settings) and not jobs_can_log_in(settings):
            session.execute(password_statement(settings), timeout=60)
        upgrade_rejects(session, settings.cassandra_keyspace, settings.raw_ttl_days, settings.max_payload_bytes)
        record_versions(session, settings.cassandra_keyspace, specs)
    finally:
        cluster.shutdown()
    conn = mysql_connection(as_owner(settings), database=False)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT VERSION()")
        version = str(cursor.fetchone()[0])
        collation = schema.binary_collation(version)
        cursor.execute("SELECT COUNT(*) FROM information_schema.collations WHERE collation_name = %s", (collation,))
        if cursor.fetchone()[0] == 0:
            raise SystemExit(
                f"MySQL server {version} has no collation {collation}: tidemark's text keys need a binary one "
                "without padding (MySQL 8.0.17 or later, MariaDB 10.2 or later)"
            )
        for statement in mysql_statements(settings, specs, collation):
            cursor.execute(statement)
        upgrade_mysql(conn, settings, specs, collation)
    finally:
        conn.close()


def upgrade_mysql(conn: Any, settings: JobSettings, specs: Sequence[StreamSpec], collation: str) -> None:
    """What older installs' MySQL tables lack: indexes, the collation, DECIMAL money, totals."""
    cursor = conn.cursor()
    for spec in specs:
        columns = (*spec.rollup.period, *spec.rollup.key)
        if not has_index(cursor, settings.mysql_database, spec.rollup.partials_table, columns):
            cursor.execute(
                f"CREATE INDEX by_period_key ON `{settings.mysql_database}`.{spec.rollup.partials_table} "
                f"({', '.join(columns)})"
            )
    cursor.execute(f"USE `{settings.mysql_database}`")
    layout.settle_shards(conn, [spec.name for spec in specs], settings.shards)
    for table, column, definition in DECIMAL_MONEY:
        if column_type(cursor, settings.mysql_database, table, column) == "double":
            cursor.execute(f"ALTER TABLE `{settings.mysql_database}`.{table} MODIFY {column} {definition}")
    # The totals take their columns' types from the partials as upgraded above.
    for spec in specs:
        if spec.rollup.keeps_totals:
            totals.build(conn, settings, spec)
    for table in folding_tables(cursor, settings.mysql_database, collation):
        # Rebuilds the table once; no key can collide, a binary collation only tells more apart.
        cursor.execute(
            f"ALTER TABLE `{settings.mysql_database}`.`{table}` CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}"
        )


def record_versions(session: Any, keyspace: str, specs: Sequence[StreamSpec]) -> None:
    """The versions of the raw rows an older install wrote, for each stream whose identity is global."""
    for spec in specs:
        if spec.global_identity is not None:
            found = versions.record_existing(session, keyspace, spec.raw_table, spec.global_identity)
            if found:
                log.info("%s: recorded the versions of %d raw rows written before versions", spec.name, found)


REJECTS_KEY = ["topic", "partition", "kafka_day"]  # schema.rejects_ddl's partition key
REJECT_COLUMNS = (
    "topic, partition, kafka_day, offset, kafka_time, stream, seen_day, seen_at, reason, detail, payload, "
    "payload_bytes, payload_sha256"
)
REJECTS_UPGRADE = "rejects_upgrade"


def upgrade_rejects(session: Any, keyspace: str, ttl_days: int, keep_bytes: int) -> None:
    """Older installs keyed rejects by (stream, seen_day), so a record read again on another
    day was stored twice, then by (topic, partition), so one partition grew for ever with whole
    payloads. A Cassandra table's key cannot change: the rows move to a table of the new
    shape, the old table is made anew and they move back. Every step can run again, so a
    migrate that dies midway is finished by the next one."""
    if partition_key(session, keyspace, "rejects") not in ([], REJECTS_KEY):
        session.execute(schema.rejects_ddl(keyspace, REJECTS_UPGRADE, ttl_days), timeout=60)
        copy_rejects(session, keyspace, "rejects", REJECTS_UPGRADE, keep_bytes)
        session.execute(f"DROP TABLE {keyspace}.rejects", timeout=60)
        session.execute(schema.rejects_ddl(keyspace, "rejects", ttl_days), timeout=60)
    if partition_key(session, keyspace, REJECTS_UPGRADE):
        copy_rejects(session, keyspace, REJECTS_UPGRADE, "rejects", keep_bytes)
        session.execute(f"DROP TABLE {keyspace}.{REJECTS_UPGRADE}", timeout=60)


def upgraded_reject(row: dict[str, Any], keep_bytes: int) -> dict[str, Any]:
    """A reject row of any older shape as the current table keeps it. A row that never knew its
    record's time takes the time it was seen; its payload is cut as ingest cuts one."""
    payload = bytes(row["payload"] or b"")
    whole = row.get("payload_bytes") is None
    return {
        **{name: row.get(name) for name in REJECT_COLUMNS.split(", ")},
        "kafka_day": row.get("kafka_day") or row["seen_day"],
        "kafka_time": row.get("kafka_time") or row["seen_at"],
        "payload": payload[:keep_bytes],
        "payload_bytes": len(payload) if whole else row["payload_bytes"],
        "payload_sha256": hashlib.sha256(payload).hexdigest() if whole else row["payload_sha256"],
    }


def partition_key(session: Any, keyspace: str, table: str) -> list[str]:
    """A table's partition key columns in order; empty when the table does not exist."""
    rows = session.execute(
        "SELECT column_name, kind, position FROM system_schema.columns WHERE keyspace_name = %s AND table_name = %s",
        (keyspace, table),
    )
    return [row.column_name for row in sorted(rows, key=lambda r: r.position) if row.kind == "partition_key"]


def copy_rejects(session: Any, keyspace: str, source: str, target: str, keep_bytes: int) -> None:
    names = REJECT_COLUMNS.split(", ")
    insert = session.prepare(
        f"INSERT INTO {keyspace}.{target} ({REJECT_COLUMNS}) VALUES ({', '.join(['?'] * len(names))})"
    )
    for row in session.execute(f"SELECT * FROM {keyspace}.{source}", timeout=60):
        upgraded = upgraded_reject(row._asdict(), keep_bytes)
        session.execute(insert, tuple(upgraded[name] for name in names))


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


def column_type(cursor: Any, database: str, table: str, column: str) -> str | None:
    cursor.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "AND column_name = %s",
        (database, table, column),
    )
    row = cursor.fetchone()
    return str(row[0]).lower() if row else None


def folding_tables(cursor: Any, database: str, collation: str) -> list[str]:
    """The database's tables that an older install created with a collation other than the
    binary NO PAD one (utf8mb4's default folds case and accents; utf8mb4_bin pads with spaces)."""
    cursor.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
        "AND table_type = 'BASE TABLE' AND table_collation <> %s ORDER BY table_name",
        (database, collation),
    )
    return [str(row[0]) for row in cursor.fetchall()]
