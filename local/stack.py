"""The local stack: real Kafka, Cassandra, MariaDB, Kafka Connect + Debezium, Prometheus and
Pushgateway as plain processes on 127.0.0.1, for the demo and the integration tests.

    python local/stack.py up|down|status|env

Jars come from Maven Central through the poms beside this file and are cached under
~/.cache/tidemark; data, pid files and logs live under .stack/ (TIDEMARK_STACK_DIR).
`up` leaves a running service alone, waits on readiness with a deadline, and on failure
names the service, the reason and its log. Ports: TIDEMARK_<SERVICE>_PORT.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run as a script (`python local/stack.py`): make `local` importable
    sys.path.insert(0, str(ROOT))
from local import supervisor, tls  # noqa: E402
from local.servers import cassandra, kafka, mariadb, monitoring, registry  # noqa: E402
from local.servers.cassandra import cassandra_cluster  # noqa: E402
from local.servers.kafka import connect_client, connect_worker_sasl  # noqa: E402
from local.servers.mariadb import mariadb_connect  # noqa: E402
from local.servers.monitoring import render_rules  # noqa: E402
from local.stack_base import (  # noqa: E402
    APP_PASSWORD,
    APP_USER,
    CACHE,
    CASSANDRA_ADMIN,
    CASSANDRA_ADMIN_PASSWORD,
    DEBEZIUM_PASSWORD,
    DEBEZIUM_USER,
    GRAFANA_PASSWORD,
    GRAFANA_USER,
    HOST,
    OWNER_PASSWORD,
    OWNER_USER,
    PORTS,
    PRODUCER_PASSWORD,
    PRODUCER_USER,
    REGISTRY_URL,
    STACK,
    StackError,
    downloading,
    jars,
    producer_metrics_ports,
)
from local.supervisor import Server, SupervisorError, answers_ok  # noqa: E402

# What the rest of tidemark reads from the stack: its places, ports and accounts (stack_base),
# and a few servers' clients.
__all__ = [
    "APP_PASSWORD",
    "APP_USER",
    "CACHE",
    "CASSANDRA_ADMIN",
    "CASSANDRA_ADMIN_PASSWORD",
    "DEBEZIUM_PASSWORD",
    "DEBEZIUM_USER",
    "GRAFANA_PASSWORD",
    "GRAFANA_USER",
    "HOST",
    "OWNER_PASSWORD",
    "OWNER_USER",
    "PORTS",
    "PRODUCER_PASSWORD",
    "PRODUCER_USER",
    "REGISTRY_URL",
    "STACK",
    "StackError",
    "cassandra_cluster",
    "connect_client",
    "connect_worker_sasl",
    "downloading",
    "jars",
    "mariadb_connect",
    "producer_metrics_ports",
    "render_rules",
]

SERVICES = [
    Server("mariadb", PORTS["mariadb"], mariadb.prepare_mariadb, mariadb.mariadb_ready, 60, STACK, mariadb.users),
    Server("kafka", PORTS["kafka"], kafka.prepare_kafka, kafka.kafka_ready, 90, STACK, kafka.kafka_acls),
    Server("cassandra", PORTS["cassandra"], cassandra.prepare_cassandra, cassandra.cassandra_ready, 180, STACK),
    Server("connect", PORTS["connect"], kafka.prepare_connect, kafka.connect_ready, 120, STACK),
    Server(
        "pushgateway",
        PORTS["pushgateway"],
        monitoring.prepare_pushgateway,
        lambda: answers_ok(f"http://{HOST}:{PORTS['pushgateway']}/-/ready"),
        30,
        STACK,
    ),
    Server(
        "prometheus",
        PORTS["prometheus"],
        monitoring.prepare_prometheus,
        lambda: answers_ok(f"http://{HOST}:{PORTS['prometheus']}/-/ready"),
        30,
        STACK,
    ),
    Server(
        "registry",
        PORTS["registry"],
        registry.prepare_registry,
        lambda: answers_ok(f"{REGISTRY_URL}/subjects"),
        90,
        STACK,
    ),
]


def up(names: list[str]) -> None:
    STACK.mkdir(parents=True, exist_ok=True)
    supervisor.up(selected(names), width=12, timings=STACK / "start-times.json")
    if any(service.name == "kafka" for service in selected(names)):
        stream_topics()
    prefetch()


def stream_topics() -> None:
    """Every stream's topics, as the chart's KafkaTopics make them (local/topics.py)."""
    from jobs.settings import JobSettings
    from local import topics

    settings = JobSettings(kafka_bootstrap=f"{HOST}:{PORTS['kafka']}")
    created = topics.ensure(settings.kafka_bootstrap, topics.stream_topics(settings))
    if created:
        print(f"{'kafka':12} created topics {', '.join(created)}", flush=True)


def prefetch() -> None:
    """The Spark connector jars the jobs load (TIDEMARK_SPARK_JARS_DIR)."""
    jars("spark")


def down(names: list[str]) -> None:
    for service in reversed(selected(names)):
        supervisor.stop(service, width=12)


def status(names: list[str]) -> int:
    missing, total = supervisor.report(selected(names), width=12)
    print(f"{'total':12} rss {total:.0f} MiB")
    return missing


def selected(names: list[str]) -> list[Server]:
    known = {s.name: s for s in SERVICES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise StackError(f"unknown service(s) {unknown}; known: {list(known)}")
    return [s for s in SERVICES if not names or s.name in names]


def tidemark_env() -> dict[str, str]:
    """The TIDEMARK_* settings that point the jobs and the producer at this stack."""
    return {
        "TIDEMARK_KAFKA_BOOTSTRAP": f"{HOST}:{PORTS['kafka']}",
        "TIDEMARK_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "TIDEMARK_KAFKA_CA_FILE": str(tls.CA),
        "TIDEMARK_CASSANDRA_HOSTS": HOST,
        "TIDEMARK_CASSANDRA_PORT": str(PORTS["cassandra"]),
        "TIDEMARK_CASSANDRA_CA_FILE": str(tls.CA),
        "TIDEMARK_CASSANDRA_TRUSTSTORE_FILE": str(tls.TRUSTSTORE),
        "TIDEMARK_CASSANDRA_TRUSTSTORE_PASSWORD": tls.TRUSTSTORE_PASSWORD,
        "TIDEMARK_MYSQL_HOST": HOST,
        "TIDEMARK_MYSQL_PORT": str(PORTS["mariadb"]),
        "TIDEMARK_MYSQL_CA_FILE": str(tls.CA),
        "TIDEMARK_PUSHGATEWAY": f"{HOST}:{PORTS['pushgateway']}",
        "TIDEMARK_SPARK_JARS_DIR": str(jars("spark")),
        "TIDEMARK_CHECKPOINT_DIR": str(STACK / "checkpoints"),
    }


def env() -> None:
    for name, value in tidemark_env().items():
        print(f"export {name}={value}")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"up", "down", "status", "env"}:
        print(__doc__)
        return 2
    try:
        if argv[0] == "up":
            up(argv[1:])
        elif argv[0] == "down":
            down(argv[1:])
        elif argv[0] == "env":
            env()
        else:
            status(argv[1:])
    except SupervisorError as e:
        print(f"stack: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
