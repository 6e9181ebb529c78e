"""Kafka (KRaft, SASL/SCRAM, ACLs as the chart's KafkaUsers) and Kafka Connect with Debezium."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import urllib.request
import uuid

from local import kafka_users, tls
from local.stack_base import (
    HOST,
    PORTS,
    STACK,
    StackError,
    jars,
    java,
    write,
)
from local.supervisor import port_open
from wire.kafka_auth import LOGIN_MODULES, jaas_config

LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.reflections.name = org.reflections
logger.reflections.level = error
"""


def jaas(module: str, user: str, **extra: str) -> str:
    return jaas_config(module, username=user, password=kafka_users.password(user), **extra)


SCRAM_MODULE, PLAIN_MODULE = LOGIN_MODULES["SCRAM-SHA-512"], LOGIN_MODULES["PLAIN"]


def prepare_kafka() -> list[str]:
    tls.ensure()
    libs = jars("kafka")
    conf = STACK / "conf"
    data = STACK / "data" / "kafka"
    admin = kafka_users.ADMIN
    # PLAIN's server side lists its users as user_<name>="<password>".
    controller_jaas = jaas(PLAIN_MODULE, admin, **{f"user_{admin}": kafka_users.password(admin)})
    props = write(
        conf / "kafka.properties",
        f"""\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{HOST}:{PORTS["kafka_controller"]}
# As on Kubernetes (the chart's Kafka): every client speaks TLS, verifying the broker's
# certificate against the stack's CA (local/tls.py), authenticates with SCRAM-SHA-512 as its own
# user and may do only what its ACLs allow (local/kafka_users.py). The controller listener takes
# PLAIN: SCRAM credentials live in the metadata the controller serves, so it cannot use them.
listeners=CLIENT://{HOST}:{PORTS["kafka"]},CONTROLLER://{HOST}:{PORTS["kafka_controller"]}
advertised.listeners=CLIENT://{HOST}:{PORTS["kafka"]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=CLIENT
listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:SASL_PLAINTEXT
ssl.keystore.type=PEM
ssl.keystore.location={tls.SERVER_PEM}
ssl.truststore.type=PEM
ssl.truststore.location={tls.CA}
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
sasl.mechanism.controller.protocol=PLAIN
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config={jaas(SCRAM_MODULE, admin)}
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config={controller_jaas}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:{admin}
allow.everyone.if.no.acl.found=false
log.dirs={data}
num.partitions=3
# As on Kubernetes (the chart's broker): topics exist because something created them on purpose
# (local/topics.py for the streams, Connect and Debezium for theirs), never by first use.
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
""",
    )
    log4j = write(conf / "log4j2.properties", LOG4J2)
    base = [f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*"]
    scram = data / ".scram-users"
    over_tls = data / ".tls"
    if (data / "meta.properties").exists() and not (scram.exists() and over_tls.exists()):
        # Formatted before the broker authenticated (its metadata has no SCRAM users) or spoke
        # TLS (Connect's stored connectors would start clients in clear against the TLS port,
        # which read the handshake as a message size and exhaust the worker's heap). Local data
        # is disposable; format it again.
        print("  kafka: storage predates SCRAM users or TLS; formatting it afresh", file=sys.stderr, flush=True)
        shutil.rmtree(data)
    if not (data / "meta.properties").exists():
        users = [
            arg
            for user in kafka_users.USERS
            for arg in ("--add-scram", f"SCRAM-SHA-512=[name={user},password={kafka_users.password(user)}]")
        ]
        fmt = subprocess.run(
            java(*base, "kafka.tools.StorageTool", "format", "-t", uuid_for_kafka(), "-c", str(props), *users),
            capture_output=True,
            text=True,
        )
        if fmt.returncode != 0:
            raise StackError(f"formatting Kafka's storage failed:\n{fmt.stdout}{fmt.stderr}")
        scram.write_text("\n".join(kafka_users.USERS) + "\n")
        over_tls.write_text(f"{tls.CA}\n")
    return java("-Xms512m", "-Xmx512m", *base, "kafka.Kafka", str(props))


def uuid_for_kafka() -> str:
    """A cluster id as Kafka's own `random-uuid` makes one: never starting with "-", which the
    storage tool's argument parser would take for an option (one id in 64 did, and stopped
    `make stack-up`)."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


def kafka_ready() -> bool:
    if not port_open(PORTS["kafka"]):
        return False
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(**kafka_users.kafka_python(f"{HOST}:{PORTS['kafka']}"), request_timeout_ms=3000)
        admin.list_topics()
        admin.close()
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False
    return True


def prepare_connect() -> list[str]:
    libs = jars("kafka")
    plugins = STACK / "connect-plugins"
    debezium = jars("debezium", exclude_groups="org.apache.kafka,org.slf4j")
    target = plugins / debezium.name
    if not target.exists():
        shutil.rmtree(plugins, ignore_errors=True)  # an older plugin version
        plugins.mkdir(parents=True)
        shutil.copytree(debezium, target, ignore=shutil.ignore_patterns(".complete"))
    props = write(
        STACK / "conf" / "connect.properties",
        f"""\
bootstrap.servers={HOST}:{PORTS["kafka"]}
group.id={kafka_users.CONNECT_GROUP}
{connect_worker_sasl()}listeners=http://{HOST}:{PORTS["connect"]}
plugin.path={plugins}
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=false
value.converter.schemas.enable=false
config.storage.topic={kafka_users.CONNECT_INTERNAL_PREFIX}configs
offset.storage.topic={kafka_users.CONNECT_INTERNAL_PREFIX}offsets
status.storage.topic={kafka_users.CONNECT_INTERNAL_PREFIX}status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.flush.interval.ms=2000
""",
    )
    log4j = STACK / "conf" / "log4j2.properties"
    return java(
        "-Xms256m",
        "-Xmx512m",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        f"{libs}/*",
        "org.apache.kafka.connect.cli.ConnectDistributed",
        str(props),
    )


def kafka_acls() -> None:
    """The clients' standing ACLs, and the default CDC prefix's (the demo's connector)."""
    bootstrap = f"{HOST}:{PORTS['kafka']}"
    kafka_users.grant(bootstrap, kafka_users.base_acls() + kafka_users.cdc_acls("tidemark"))


def connect_client() -> dict[str, str]:
    """Connect's Java client properties (its worker's and its connectors' clients)."""
    return kafka_users.java_client(kafka_users.CONNECT)


def connect_worker_sasl() -> str:
    """A Connect worker's properties for its own clients and those it gives connectors."""
    return "".join(
        f"{prefix}{key}={value}\n"
        for prefix in ("", "producer.", "consumer.", "admin.")
        for key, value in connect_client().items()
    )


def connect_ready() -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{PORTS['connect']}/connector-plugins", timeout=2) as r:
            return b"MariaDbConnector" in r.read()
    except OSError:
        return False
