"""Drops what a test session or a benchmark made on the local stack under its run names.

A name owns the keyspace of that name, the databases `name`, `name_recruit` and `name_shop`,
and the topics `name.*`. Leftovers are not harmless: every keyspace costs Cassandra a
memtable and metadata, and a few hundred of them slow every later run on the stack.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaAdminClient

from local import kafka_users, stack


def drop(names: Iterable[str]) -> None:
    names = list(names)
    if not names:
        return
    cluster = stack.cassandra_cluster()
    session = cluster.connect()
    conn = stack.mariadb_connect(stack.OWNER_USER, stack.OWNER_PASSWORD, autocommit=True)
    admin = KafkaAdminClient(**kafka_users.kafka_python(f"{stack.HOST}:{stack.PORTS['kafka']}"))
    try:
        topics = admin.list_topics()
        cursor = conn.cursor()
        for name in names:
            session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)
            for database in (name, f"{name}_recruit", f"{name}_shop"):
                cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
            mine = [t for t in topics if t.startswith(f"{name}.")]
            if mine:
                admin.delete_topics(mine)
    finally:
        admin.close()
        conn.close()
        cluster.shutdown()
