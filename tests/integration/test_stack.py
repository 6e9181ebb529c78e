"""A real round trip through every server of the local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import mysql.connector
import pytest
from kafka import KafkaConsumer, KafkaProducer
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from local import debezium, kafka_users, stack, topics

from .conftest import (
    CONNECT_URL,
    KAFKA,
    PROMETHEUS_URL,
    PUSHGATEWAY,
    ROOT,
    connector_task_state,
    create_connector,
    eventually,
    http_json,
    mysql_connect,
    unique,
)


def consume(topic: str, want: int, timeout_s: float = 30) -> list[Any]:
    consumer = KafkaConsumer(
        topic,
        **kafka_users.kafka_python(KAFKA, kafka_users.JOBS),
        auto_offset_reset="earliest",
        group_id=None,
        consumer_timeout_ms=1000,
    )
    got: list[Any] = []

    def poll() -> bool:
        for batch in consumer.poll(timeout_ms=1000).values():
            got.extend(batch)
        return len(got) >= want

    try:
        eventually(poll, timeout_s, f"{want} records on {topic}", interval_s=0)
    finally:
        consumer.close()
    return got


def test_kafka_round_trip() -> None:
    topic = unique("stack_test")
    topics.ensure(KAFKA, [topic])
    producer = KafkaProducer(**kafka_users.kafka_python(KAFKA, kafka_users.PRODUCER), acks="all")
    for i in range(3):
        producer.send(topic, key=str(i).encode(), value=f"hello {i}".encode())
    producer.flush()
    producer.close()

    values = sorted(r.value for r in consume(topic, 3))
    assert values == [b"hello 0", b"hello 1", b"hello 2"]


def test_cassandra_round_trip(cassandra: Any) -> None:
    ks = unique("stack_test")
    cassandra.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")
    cassandra.execute(f"CREATE TABLE {ks}.t (k int, c timeuuid, v text, PRIMARY KEY (k, c))")
    cassandra.execute(f"INSERT INTO {ks}.t (k, c, v) VALUES (1, now(), 'one')")
    cassandra.execute(f"INSERT INTO {ks}.t (k, c, v) VALUES (1, now(), 'two')")
    rows = list(cassandra.execute(f"SELECT v FROM {ks}.t WHERE k = 1"))
    assert [r.v for r in rows] == ["one", "two"]
    cassandra.execute(f"DROP KEYSPACE {ks}")


def test_mariadb_round_trip() -> None:
    db = unique("stack_test")
    conn = mysql_connect()
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE {db}")
    cur.execute(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, amount DECIMAL(10,2))")
    cur.execute(f"INSERT INTO {db}.t VALUES (1, 12.50), (2, 0.25)")
    cur.execute(f"SELECT SUM(amount), COUNT(*) FROM {db}.t")
    total, count = cur.fetchone()
    assert (str(total), count) == ("12.75", 2)
    cur.execute("SELECT @@binlog_format, @@binlog_row_image, @@log_bin")
    assert cur.fetchone() == ("ROW", "FULL", 1)
    cur.execute(f"DROP DATABASE {db}")
    conn.close()


def test_debezium_streams_a_mariadb_insert_to_kafka() -> None:
    # Debezium's login may read the recruit databases' rows only, as in the chart.
    db = unique("cdc_test") + "_recruit"
    conn = mysql_connect()
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE {db}")
    cur.execute(f"CREATE TABLE {db}.job (id INT PRIMARY KEY, company_id INT NOT NULL)")

    name = unique("cdc")
    # A row before the connector: its snapshot read ("r") tells the snapshot is done, so the
    # next insert can only arrive through the binlog ("c").
    cur.execute(f"INSERT INTO {db}.job VALUES (1, 10)")
    create_connector(CONNECT_URL, name, debezium.config(db, name, server_id=abs(hash(name)) % 100000 + 1000))
    try:
        eventually(lambda: connector_task_state(CONNECT_URL, name) == "RUNNING", 60, f"connector {name} RUNNING")
        snapshot = json.loads(consume(f"{name}.{db}.job", 1, timeout_s=60)[0].value)
        assert (snapshot["op"], snapshot["after"]) == ("r", {"id": 1, "company_id": 10})
        cur.execute(f"INSERT INTO {db}.job VALUES (7, 42)")
        event = json.loads(consume(f"{name}.{db}.job", 2, timeout_s=60)[1].value)
        assert event["op"] == "c"
        assert event["after"] == {"id": 7, "company_id": 42}
    finally:
        http_json(f"{CONNECT_URL}/connectors/{name}", method="DELETE")
        cur.execute(f"DROP DATABASE {db}")
        conn.close()


def test_debeziums_user_holds_the_chart_grants_and_no_lock() -> None:
    conn = mysql_connect(user=stack.DEBEZIUM_USER, password=stack.DEBEZIUM_PASSWORD)
    cur = conn.cursor()
    cur.execute("SHOW GRANTS")
    grants = {on: sorted(what.split(", ")) for what, on in (parse_grant(row[0]) for row in cur.fetchall())}
    # MariaDB names REPLICATION CLIENT "BINLOG MONITOR". Rows only of the recruit databases.
    assert grants == {
        "*.*": ["BINLOG MONITOR", "RELOAD", "REPLICATION SLAVE", "SHOW DATABASES"],
        "`%recruit`.*": ["SELECT"],
    }
    with pytest.raises(mysql.connector.errors.ProgrammingError, match=r"denied"):
        cur.execute("LOCK TABLES mysql.db READ")
    conn.close()


def parse_grant(grant: str) -> tuple[str, str]:
    """`GRANT A, B ON x.* TO 'u'@'%' ...` as ("A, B", "x.*")."""
    what, rest = grant.removeprefix("GRANT ").split(" ON ", 1)
    return what, rest.split(" TO ", 1)[0]


def test_pushed_metric_is_queryable_in_prometheus() -> None:
    job = unique("stack_test")
    registry = CollectorRegistry()
    Gauge("tidemark_stack_test_value", "a value pushed by the stack test", registry=registry).set(41.5)
    push_to_gateway(PUSHGATEWAY, job=job, registry=registry)

    query = urllib.parse.quote(f'tidemark_stack_test_value{{job="{job}"}}')

    def scraped() -> list[Any]:
        result: list[Any] = http_json(f"{PROMETHEUS_URL}/api/v1/query?query={query}")["data"]["result"]
        return result

    result = eventually(scraped, 30, "the pushed metric in Prometheus")
    assert result[0]["value"][1] == "41.5"
    # honor_labels keeps the pusher's job label instead of the scrape job's.
    assert result[0]["metric"]["job"] == job
    urllib.request.urlopen(urllib.request.Request(f"http://{PUSHGATEWAY}/metrics/job/{job}", method="DELETE"))


def stack_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "local/stack.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        check=False,
    )


def test_stack_up_twice_leaves_one_of_each_process() -> None:
    before = {s.name: s.pid() for s in stack.SERVICES}
    done = stack_cli("up")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("already up") == len(stack.SERVICES)
    assert {s.name: s.pid() for s in stack.SERVICES} == before
    status = stack_cli("status")
    for service in stack.SERVICES:
        assert f"{service.name:12} up" in status.stdout


def test_a_taken_port_is_a_clear_error(tmp_path: Any) -> None:
    done = stack_cli("up", "pushgateway", TIDEMARK_STACK_DIR=str(tmp_path))
    assert done.returncode == 1
    assert f"pushgateway: port 127.0.0.1:{stack.PORTS['pushgateway']} is already taken" in done.stderr
    assert "TIDEMARK_PUSHGATEWAY_PORT" in done.stderr
