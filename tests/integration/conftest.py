"""Fixtures for tests that run against the local stack (`make stack-up`)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cassandra.cluster import Session

from local import cleanup, debezium, stack

ROOT = Path(__file__).resolve().parents[2]

HOST = stack.HOST
KAFKA = f"{HOST}:{stack.PORTS['kafka']}"
CONNECT_URL = f"http://{HOST}:{stack.PORTS['connect']}"
PROMETHEUS_URL = f"http://{HOST}:{stack.PORTS['prometheus']}"
PUSHGATEWAY = f"{HOST}:{stack.PORTS['pushgateway']}"


@pytest.fixture(scope="session", autouse=True)
def stack_is_up() -> None:
    down = [s.name for s in stack.SERVICES if s.pid() is None or not s.ready()]
    if down:
        pytest.fail(f"the local stack is not up ({', '.join(down)}): run `make stack-up`")


# Names this test session handed out: their keyspaces, databases and topics go at its end.
HANDED_OUT: list[str] = []


def unique(prefix: str) -> str:
    """A name no earlier run used, so tests never see each other's data."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    HANDED_OUT.append(name)
    return name


@pytest.fixture(scope="session", autouse=True)
def drop_what_tests_made(stack_is_up: None) -> Iterator[None]:
    """Leaves the stack as the session found it: hundreds of leftover keyspaces would cost
    Cassandra a memtable and metadata each, and slow every later run on this stack."""
    yield
    cleanup.drop(HANDED_OUT)


def eventually(check: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.5) -> Any:
    """Polls `check` until it returns something truthy; fails with `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}; last value: {last!r}")


@pytest.fixture(scope="session")
def cassandra() -> Iterator[Session]:
    cluster = stack.cassandra_cluster()
    session = cluster.connect()
    yield session
    cluster.shutdown()


def mysql_connect(
    database: str | None = None, user: str = stack.OWNER_USER, password: str = stack.OWNER_PASSWORD
) -> Any:
    """A connection for a test's own set-up and checks: as the tables' owner, not a component."""
    return stack.mariadb_connect(user, password, database, autocommit=True)


@pytest.fixture
def mysql_root() -> Iterator[Any]:
    conn = mysql_connect()
    yield conn
    conn.close()


@pytest.fixture
def other_ca(tmp_path: Path) -> Path:
    """A CA certificate the stack's servers were not signed by."""
    ca, key = tmp_path / "other-ca.crt", tmp_path / "other-ca.key"
    make_ca = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other"]
    subprocess.run([*make_ca, "-keyout", str(key), "-out", str(ca)], check=True, capture_output=True)
    return ca


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from jobs.settings import from_variables
    from jobs.spark import session

    # The stack's endpoints and CAs, as every job gets them.
    settings = from_variables(stack.tidemark_env())
    spark = session(settings, "tests")
    yield spark
    spark.stop()


def http_json(url: str, body: dict[str, Any] | None = None, method: str = "GET") -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def connector_task_state(connect_url: str, name: str) -> str | None:
    try:
        tasks = http_json(f"{connect_url}/connectors/{name}/status")["tasks"]
    except OSError:
        return None  # not listening yet, or 404 until the connector's first status is written
    return str(tasks[0]["state"]) if tasks else None


def create_connector(connect_url: str, name: str, config: dict[str, str]) -> None:
    """POSTs a connector, retrying while Connect rebalances (it answers 409 meanwhile), after
    granting Connect its topics and the jobs their read (as the chart's KafkaUsers do)."""
    debezium.grant(config["topic.prefix"])

    def attempt() -> bool:
        body = json.dumps({"name": name, "config": config}).encode()
        req = urllib.request.Request(
            f"{connect_url}/connectors", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            urllib.request.urlopen(req, timeout=10).close()
        except urllib.error.HTTPError as e:
            if e.code == 409:
                return False
            raise
        return True

    eventually(attempt, 60, f"Kafka Connect to accept connector {name}", interval_s=1)
