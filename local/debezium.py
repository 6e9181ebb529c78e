"""Registers the Debezium connector for recruit.job on the local Kafka Connect (idempotent):
the same settings the chart's KafkaConnector carries, with the MariaDB connector class."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from local import kafka_users, stack, tls

NAME = "tidemark-recruit"


def config(database: str = "recruit", prefix: str = "tidemark", server_id: int = 184054) -> dict[str, str]:
    """The connector for <database>.job; change events go to <prefix>.<database>.job."""
    return {
        "connector.class": "io.debezium.connector.mariadb.MariaDbConnector",
        "database.hostname": stack.HOST,
        "database.port": str(stack.PORTS["mariadb"]),
        "database.user": stack.DEBEZIUM_USER,
        "database.password": stack.DEBEZIUM_PASSWORD,
        "database.server.id": str(server_id),
        # TLS, the server's certificate checked against the stack's CA and its host name
        # (MariaDB's connector spells the modes as MariaDB's JDBC driver does).
        "database.ssl.mode": "verify-full",
        "database.ssl.truststore": str(tls.TRUSTSTORE),
        "database.ssl.truststore.password": tls.TRUSTSTORE_PASSWORD,
        # As on Kubernetes: no table locks (the user has no LOCK TABLES grant); the snapshot
        # reads in one consistent transaction.
        "snapshot.locking.mode": "none",
        "topic.prefix": prefix,
        "database.include.list": database,
        "table.include.list": f"{database}.job",
        "schema.history.internal.kafka.bootstrap.servers": f"{stack.HOST}:{stack.PORTS['kafka']}",
        "schema.history.internal.kafka.topic": f"{prefix}.schema-history",
        # The broker creates no topic on first use (as on Kubernetes): Connect creates the
        # change topics from these (the schema-history topic Debezium creates itself).
        "topic.creation.default.replication.factor": "-1",  # the broker default
        "topic.creation.default.partitions": "1",
        # The schema history's own producer and consumer authenticate as Connect does.
        **{
            f"schema.history.internal.{client}.{key}": value
            for client in ("producer", "consumer")
            for key, value in stack.connect_client().items()
        },
    }


def grant(prefix: str) -> None:
    """Lets Connect own the topics under `prefix` and the jobs read them (local/kafka_users.py)."""
    kafka_users.grant(f"{stack.HOST}:{stack.PORTS['kafka']}", kafka_users.cdc_acls(prefix))


def _call(path: str, body: dict[str, Any] | None = None, method: str = "GET") -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://{stack.HOST}:{stack.PORTS['connect']}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def register(timeout_s: float = 60, name: str = NAME, connector: dict[str, str] | None = None) -> None:
    """Creates or updates connector `name` (default: recruit.job as the demo watches it) and
    waits for its task to run."""
    # PUT .../config creates or updates, so running it twice is harmless.
    _call(f"/connectors/{name}/config", connector or config(), method="PUT")
    deadline = time.monotonic() + timeout_s
    state = None
    while time.monotonic() < deadline:
        state = task_state(name)
        if state == "RUNNING":
            print(f"→ debezium   connector {name} RUNNING", flush=True)
            return
        if state == "FAILED":
            break
        time.sleep(1)
    raise SystemExit(
        f"debezium: connector {name} is {state} after {timeout_s:.0f}s; see {stack.STACK}/logs/connect.log"
    )


def task_state(name: str) -> str | None:
    """The state of connector `name`'s task; None before it has one, or while Connect does not answer."""
    try:
        tasks = _call(f"/connectors/{name}/status")["tasks"]
    except (OSError, KeyError, ValueError):
        return None
    return str(tasks[0]["state"]) if tasks else None


def restart_failed(name: str) -> None:
    """Starts connector `name`'s FAILED tasks again, as Strimzi's autoRestart does."""
    _call(f"/connectors/{name}/restart?includeTasks=true&onlyFailed=true", method="POST")


def remove(name: str) -> None:
    """Deletes connector `name` with its stored offsets: a connector registered again under the
    name would otherwise resume from the binlog position it had reached, against a schema
    history topic that may be gone (Debezium then fails). One that does not exist is removed."""
    try:
        _call(f"/connectors/{name}/stop", method="PUT")
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return
        raise
    deadline = time.monotonic() + 60
    while _call(f"/connectors/{name}/status")["connector"]["state"] != "STOPPED":
        if time.monotonic() > deadline:
            raise SystemExit(f"debezium: connector {name} did not stop within 60s")
        time.sleep(0.5)
    _call(f"/connectors/{name}/offsets", method="DELETE")
    _call(f"/connectors/{name}", method="DELETE")
