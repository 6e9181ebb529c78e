"""A rollup's totals: for a rollup whose measures are all sums (`Rollup.keeps_totals`), each (period,
key)'s sums over the partials of its buckets, and how many partials hold it.

A chunk's transaction takes its buckets' old partials away from their totals, replaces the
partials, and adds the new ones; totals no partial holds any more go. The upsert then reads
one row per key of the periods touched, not every partial of them: the same numbers, since a
sum of sums is the sum (integers and DECIMALs, exact). The lease that fences the chunk's
transaction fences the totals with it, so they never drift from the partials.

An install whose partials predate the totals gets them at `migrate`, built from the partials
under the stream's aggregate lock and renamed into place at once: a migrate that dies midway
leaves no totals, and the next one builds them again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from jobs.settings import JobSettings
from jobs.spec import Rollup, StreamSpec, row_constructors
from jobs.stream_lock import acquire, lock_name, release

log = logging.getLogger("tidemark.totals")


def groups(rollup: Rollup) -> str:
    return ", ".join((*rollup.period, *rollup.key))


def totals_statement(rollup: Rollup, buckets_sql: str, sign: str) -> str:
    """Adds (`sign` "+") or takes away ("-") some buckets' partials to or from the totals of
    their (period, key)s, counting the partials each total holds."""
    t = rollup.totals_table
    return (
        f"INSERT INTO {t} ({groups(rollup)}, {', '.join(rollup.sums)}, parts) "
        f"SELECT {groups(rollup)}, {', '.join(f'{sign}SUM({c})' for c in rollup.sums)}, {sign}COUNT(*) "
        f"FROM {rollup.partials_table} WHERE (bucket) IN ({buckets_sql}) GROUP BY {groups(rollup)} "
        f"ON DUPLICATE KEY UPDATE {', '.join(f'{t}.{c} = {t}.{c} + VALUES({c})' for c in (*rollup.sums, 'parts'))}"
    )


def move(cursor: Any, rollup: Rollup, buckets: Sequence[datetime], sign: str) -> None:
    """Adds or takes away the buckets' partials as they are now (inside the chunk's transaction)."""
    for sql, values in row_constructors([(b,) for b in buckets], 1):
        cursor.execute(totals_statement(rollup, sql, sign), values)


def drop_empty(cursor: Any, rollup: Rollup, periods: set[tuple[Any, ...]]) -> None:
    """The totals of these periods that no partial holds any more: their keys leave the target
    too (the prune reads the totals)."""
    for sql, values in row_constructors(sorted(periods), len(rollup.period)):
        cursor.execute(
            f"DELETE FROM {rollup.totals_table} WHERE parts = 0 AND ({', '.join(rollup.period)}) IN ({sql})", values
        )


def columns_of(cursor: Any, database: str, table: str) -> dict[str, tuple[str, bool]]:
    """Each column's type and whether it may be NULL."""
    cursor.execute(
        "SELECT column_name, column_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s",
        (database, table),
    )
    return {text(name).lower(): (text(kind), text(nullable) == "YES") for name, kind, nullable in cursor.fetchall()}


def text(value: Any) -> str:
    """A catalog value as text: MySQL 8's data dictionary views hand some as bytes."""
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def build(conn: Any, settings: JobSettings, spec: StreamSpec) -> bool:
    """Creates the stream's totals from its partials when it has none yet; True when it did."""
    rollup, database = spec.rollup, settings.mysql_database
    cursor = conn.cursor()
    if columns_of(cursor, database, rollup.totals_table):
        return False
    name = lock_name(settings, spec.name)
    if not acquire(conn, name, settings.aggregate_lock_wait_seconds):
        raise SystemExit(
            f"{spec.name}: an aggregate run held the stream for TIDEMARK_AGGREGATE_LOCK_WAIT_SECONDS="
            f"{settings.aggregate_lock_wait_seconds}s while migrate waited to build {rollup.totals_table}: "
            "run migrate again"
        )
    try:
        if columns_of(cursor, database, rollup.totals_table):
            return False
        types = columns_of(cursor, database, rollup.partials_table)
        nullable = [c for c in rollup.sums if types[c][1]]
        if nullable:
            # NULL + a number is NULL, where SUM skips it: the totals would not be the sum.
            raise SystemExit(f"{spec.name}: sums {nullable} of {rollup.partials_table} may be NULL; they must not")
        keyed = (*rollup.period, *rollup.key)
        definitions = [f"{c} {types[c][0]} NOT NULL" for c in (*keyed, *rollup.sums)]
        building = f"`{database}`.{rollup.totals_table}_building"
        cursor.execute(f"DROP TABLE IF EXISTS {building}")
        cursor.execute(
            f"CREATE TABLE {building} ({', '.join(definitions)}, parts INT NOT NULL, PRIMARY KEY ({', '.join(keyed)}))"
        )
        cursor.execute(
            f"INSERT INTO {building} ({groups(rollup)}, {', '.join(rollup.sums)}, parts) "
            f"SELECT {groups(rollup)}, {', '.join(f'SUM({c})' for c in rollup.sums)}, COUNT(*) "
            f"FROM `{database}`.{rollup.partials_table} GROUP BY {groups(rollup)}"
        )
        conn.commit()
        cursor.execute(f"RENAME TABLE {building} TO `{database}`.{rollup.totals_table}")
        log.info("%s: built %s from the partials", spec.name, rollup.totals_table)
        return True
    finally:
        release(conn, name)
