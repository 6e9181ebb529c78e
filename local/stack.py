"""The local stack: real Kafka, Cassandra, MariaDB, Kafka Connect + Debezium, Prometheus and
Pushgateway as plain processes on 127.0.0.1, for the demo and the integration tests.

    python local/stack.py up|down|status|env

Jars come from Maven Central through the poms beside this file and are cached under
~/.cache/tidemark; data, pid files and logs live under .stack/ (TIDEMARK_STACK_DIR).
`up` leaves a running service alone, waits on readiness with a deadline, and on failure
names the service, the reason and its log. Ports: TIDEMARK_<SERVICE>_PORT.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run as a script (`python local/stack.py`): make `local` importable
    sys.path.insert(0, str(ROOT))
from local import kafka_users, supervisor  # noqa: E402
from local.supervisor import Server, SupervisorError, answers_ok, port_open  # noqa: E402

HOST = supervisor.HOST  # every local server listens on loopback only
from wire.kafka_auth import LOGIN_MODULES, jaas_config  # noqa: E402

STACK = Path(os.environ.get("TIDEMARK_STACK_DIR", ROOT / ".stack")).resolve()
CACHE = Path(os.environ.get("TIDEMARK_CACHE_DIR", Path.home() / ".cache" / "tidemark"))


def port(name: str, default: int) -> int:
    raw = os.environ.get(f"TIDEMARK_{name}_PORT", str(default))
    if not raw.isdigit():
        sys.exit(f"TIDEMARK_{name}_PORT must be a port number, got {raw!r}")
    return int(raw)


PORTS = {
    "mariadb": port("MARIADB", 13306),
    "kafka": port("KAFKA", 19092),
    "kafka_controller": port("KAFKA_CONTROLLER", 19093),
    "cassandra": port("CASSANDRA", 19042),
    "cassandra_storage": port("CASSANDRA_STORAGE", 17000),
    "connect": port("CONNECT", 18083),
    "pushgateway": port("PUSHGATEWAY", 19091),
    "prometheus": port("PROMETHEUS", 19090),
    "registry": port("REGISTRY", 18081),
}
# A Confluent-API schema registry (Apicurio serves the Confluent API under this path). Not in
# tidemark_env(): the demo and most tests use the ads stream's built-in schema; the registry
# tests point the producer and the jobs at it explicitly.
REGISTRY_URL = f"http://{HOST}:{PORTS['registry']}/apis/ccompat/v7"
# The newest Apicurio Registry 3 on Maven Central that runs on Java 17 (3.3 needs Java 21).
APICURIO_VERSION = "3.0.9"

# One MariaDB account per component, as on the chart (templates/mysql/configmap.yaml), and the
# processes' default settings name them; local-only, so plain passwords.
APP_USER, APP_PASSWORD = "tidemark", "tidemark"  # the jobs
PRODUCER_USER, PRODUCER_PASSWORD = "tidemark_producer", "tidemark_producer"
OWNER_USER, OWNER_PASSWORD = "tidemark_migrate", "tidemark_migrate"  # migrate, and the tests' own set-up
DEBEZIUM_USER, DEBEZIUM_PASSWORD = "debezium", "debezium"
GRAFANA_USER, GRAFANA_PASSWORD = "grafana", "grafana"
# Cassandra's superuser (migrate's, and the tests' own set-up and checks); the jobs' role
# `tidemark` is migrate's to create (jobs/migrate.py).
CASSANDRA_ADMIN, CASSANDRA_ADMIN_PASSWORD = "cassandra", "cassandra"

CASSANDRA_JVM17 = [
    "-XX:+UseG1GC",
    "-XX:+ParallelRefProcEnabled",
    "-XX:MaxTenuringThreshold=1",
    "-XX:G1HeapRegionSize=16m",
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports",
    "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports",
    "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports",
    "java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports",
    "java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports",
    "java.sql/java.sql=ALL-UNNAMED",
    "--add-exports",
    "java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports",
    "jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports",
    "jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports",
    "jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens",
    "java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens",
    "java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens",
    "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens",
    "java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens",
    "java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens",
    "java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens",
    "java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens",
    "jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens",
    "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens",
    "java.base/java.io=ALL-UNNAMED",
    "--add-opens",
    "java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens",
    "jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens",
    "java.base/java.lang=ALL-UNNAMED",
    "--add-opens",
    "java.base/java.util=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
]


class StackError(SupervisorError):
    pass


def jars(pom: str, exclude_groups: str = "") -> Path:
    """Copies a pom's runtime jars into the cache once per pom content; later calls are free."""
    import hashlib

    digest = hashlib.sha256((HERE / "maven" / f"{pom}.xml").read_bytes() + exclude_groups.encode()).hexdigest()[:8]
    dest = CACHE / "jars" / f"{pom}-{digest}"
    marker = dest / ".complete"
    if marker.exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    cmd = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(HERE / "maven" / f"{pom}.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={dest}",
    ]
    if exclude_groups:
        cmd.append(f"-DexcludeGroupIds={exclude_groups}")
    print(f"  fetching {pom} jars from Maven Central (cached in {dest})", file=sys.stderr, flush=True)
    done = downloading(cmd, f"{pom} jars", JAR_MB.get(pom))
    if done.returncode != 0:
        raise StackError(f"maven could not fetch the {pom} jars:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    marker.touch()
    return dest


# What each download weighs, measured here: the estimate `stack-up` shows while it fetches.
JAR_MB = {"kafka": 55, "cassandra": 67, "debezium": 23, "spark": 83, "apicurio": 105}


def tree_mb(path: Path) -> float:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total / 2**20


def downloading(
    cmd: list[str], what: str, expected_mb: int | None, every_s: float = 10
) -> subprocess.CompletedProcess[str]:
    """Runs a Maven download, saying every `every_s` how far it got (what ~/.m2 gained)."""
    repository = Path.home() / ".m2" / "repository"
    before = tree_mb(repository)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while True:
        try:
            output, _ = proc.communicate(timeout=every_s)
            break
        except subprocess.TimeoutExpired:
            got = tree_mb(repository) - before
            of = f" of ~{expected_mb} MB" if expected_mb else " MB"
            print(f"  {what}: {got:.0f}{of}, {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    return subprocess.CompletedProcess(cmd, proc.returncode, output, "")


def java(*args: str) -> list[str]:
    return ["java", "-XX:+ExitOnOutOfMemoryError", *args]


# --- MariaDB ---------------------------------------------------------------------------------


def mariadb_socket() -> Path:
    return STACK / "run" / "mariadb.sock"


def prepare_mariadb() -> list[str]:
    data = STACK / "data" / "mariadb"
    if not (data / "mysql").exists():
        data.mkdir(parents=True, exist_ok=True)
        init = subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
        )
        if init.returncode != 0:
            raise StackError(f"mariadb-install-db failed:\n{init.stdout}{init.stderr}")
    return [
        "mariadbd",
        "--no-defaults",
        f"--datadir={data}",
        "--user=root",
        f"--port={PORTS['mariadb']}",
        f"--bind-address={HOST}",
        f"--socket={mariadb_socket()}",
        f"--pid-file={STACK / 'run' / 'mariadbd.pid'}",
        # What Debezium needs: a row-based binlog with full before/after images, GTIDs on.
        "--log-bin=binlog",
        "--binlog-format=ROW",
        "--binlog-row-image=FULL",
        "--server-id=1",
        "--gtid-strict-mode=ON",
        "--expire-logs-days=1",
        "--innodb-buffer-pool-size=128M",
        "--performance-schema=OFF",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
    ]


def mariadb_ready() -> bool:
    return (
        mariadb_socket().exists()
        and subprocess.run(
            ["mariadb-admin", f"--socket={mariadb_socket()}", "--user=root", "ping"],
            capture_output=True,
        ).returncode
        == 0
    )


def mariadb_sql(sql: str) -> str:
    done = subprocess.run(
        ["mariadb", f"--socket={mariadb_socket()}", "--user=root", "--batch", "--skip-column-names"],
        input=sql,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise StackError(f"MariaDB refused:\n{sql}\n{done.stderr}")
    return done.stdout


def mariadb_users() -> None:
    # Tests, benches and the demo name their databases after their run (<run>, <run>_recruit,
    # <run>_shop), so grants here cover every database where the chart's name three: the jobs
    # may change rows but run no DDL, the producers touch only operational databases.
    mariadb_sql(f"""
        CREATE USER IF NOT EXISTS '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}';
        REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{APP_USER}'@'%';
        GRANT SELECT, INSERT, UPDATE, DELETE ON *.* TO '{APP_USER}'@'%';
        CREATE USER IF NOT EXISTS '{PRODUCER_USER}'@'%' IDENTIFIED BY '{PRODUCER_PASSWORD}';
        REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{PRODUCER_USER}'@'%';
        GRANT SELECT, INSERT, UPDATE, DELETE ON `%recruit`.* TO '{PRODUCER_USER}'@'%';
        GRANT SELECT, INSERT, UPDATE, DELETE ON `%shop`.* TO '{PRODUCER_USER}'@'%';
        CREATE USER IF NOT EXISTS '{OWNER_USER}'@'%' IDENTIFIED BY '{OWNER_PASSWORD}';
        GRANT ALL PRIVILEGES ON *.* TO '{OWNER_USER}'@'%';
        CREATE USER IF NOT EXISTS '{DEBEZIUM_USER}'@'%' IDENTIFIED BY '{DEBEZIUM_PASSWORD}';
        GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT
              ON *.* TO '{DEBEZIUM_USER}'@'%';
        -- The chart's grants, no more (an older stack's user had LOCK TABLES and BINLOG MONITOR;
        -- MariaDB reads REPLICATION CLIENT as BINLOG MONITOR, so only LOCK TABLES goes).
        REVOKE LOCK TABLES ON *.* FROM '{DEBEZIUM_USER}'@'%';
        CREATE USER IF NOT EXISTS '{GRAFANA_USER}'@'%' IDENTIFIED BY '{GRAFANA_PASSWORD}';
        GRANT SELECT ON *.* TO '{GRAFANA_USER}'@'%';
        FLUSH PRIVILEGES;
    """)


# --- Kafka and Kafka Connect -----------------------------------------------------------------

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


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def jaas(module: str, user: str, **extra: str) -> str:
    return jaas_config(module, username=user, password=kafka_users.password(user), **extra)


SCRAM_MODULE, PLAIN_MODULE = LOGIN_MODULES["SCRAM-SHA-512"], LOGIN_MODULES["PLAIN"]


def prepare_kafka() -> list[str]:
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
# As on Kubernetes (the chart's Kafka): every client authenticates with SCRAM-SHA-512 as its own
# user and may do only what its ACLs allow (local/kafka_users.py). The controller listener takes
# PLAIN: SCRAM credentials live in the metadata the controller serves, so it cannot use them.
listeners=CLIENT://{HOST}:{PORTS["kafka"]},CONTROLLER://{HOST}:{PORTS["kafka_controller"]}
advertised.listeners=CLIENT://{HOST}:{PORTS["kafka"]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=CLIENT
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
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
    if (data / "meta.properties").exists() and not scram.exists():
        # Formatted before the broker authenticated: its metadata has no SCRAM users. Local
        # data is disposable; format it again with them.
        print("  kafka: storage predates SCRAM users; formatting it afresh", file=sys.stderr, flush=True)
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
    return java("-Xms512m", "-Xmx512m", *base, "kafka.Kafka", str(props))


def uuid_for_kafka() -> str:
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


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


# --- Cassandra -------------------------------------------------------------------------------

LOGBACK = """\
<configuration>
  <appender name="out" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%date %level [%thread] %logger{20} %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="out"/></root>
</configuration>
"""


def prepare_cassandra() -> list[str]:
    libs = jars("cassandra")
    data = STACK / "data" / "cassandra"
    conf = write(
        STACK / "conf" / "cassandra.yaml",
        f"""\
cluster_name: tidemark-local
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
data_file_directories: [{data}/data]
commitlog_directory: {data}/commitlog
saved_caches_directory: {data}/saved_caches
hints_directory: {data}/hints
cdc_raw_directory: {data}/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{HOST}:{PORTS["cassandra_storage"]}"
listen_address: {HOST}
rpc_address: {HOST}
storage_port: {PORTS["cassandra_storage"]}
native_transport_port: {PORTS["cassandra"]}
start_native_transport: true
# One node on a laptop: bounded memtables and caches, and big IN queries let through.
# Memtables of a quarter of the heap each: smaller ones flush (and compact) every few seconds
# under the benchmark's load, and the heap then spends its time in old-generation GCs.
memtable_heap_space: 512MiB
memtable_offheap_space: 512MiB
key_cache_size: 16MiB
batch_size_fail_threshold: 5000KiB
# Tests and benchmarks drop their keyspaces: keep no snapshot of them.
auto_snapshot: false
# The jobs write one partition's rows per batch, up to TIDEMARK_CASSANDRA_WRITE_BATCH_BYTES.
batch_size_warn_threshold: 64KiB
# As k8ssandra's clusters: every client logs in, and a role may do only what it was granted.
# The superuser cassandra/cassandra is migrate's (TIDEMARK_CASSANDRA_ADMIN_*); the jobs log in
# as the role migrate creates (TIDEMARK_CASSANDRA_USERNAME).
authenticator:
  class_name: org.apache.cassandra.auth.PasswordAuthenticator
authorizer:
  class_name: org.apache.cassandra.auth.CassandraAuthorizer
role_manager:
  class_name: org.apache.cassandra.auth.CassandraRoleManager
""",
    )
    logback = write(STACK / "conf" / "logback.xml", LOGBACK)
    heap = os.environ.get("TIDEMARK_CASSANDRA_HEAP", "2G")
    return java(
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-Xss256k",
        *CASSANDRA_JVM17,
        f"-Dcassandra.config=file://{conf}",
        f"-Dcassandra.storagedir={data}",
        f"-Dlogback.configurationFile={logback}",
        "-Dcassandra-foreground=yes",
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        "-Dcassandra.ring_delay_ms=0",
        "-Dcassandra.superuser_setup_delay_ms=0",
        "-cp",
        f"{libs}/*",
        "org.apache.cassandra.service.CassandraDaemon",
    )


def cassandra_cluster(user: str = CASSANDRA_ADMIN, password: str = CASSANDRA_ADMIN_PASSWORD) -> Any:
    """A driver Cluster for the local Cassandra, logged in (as its superuser unless told)."""
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import RoundRobinPolicy

    return Cluster(
        [HOST],
        port=PORTS["cassandra"],
        protocol_version=5,
        auth_provider=PlainTextAuthProvider(user, password),
        execution_profiles={EXEC_PROFILE_DEFAULT: ExecutionProfile(load_balancing_policy=RoundRobinPolicy())},
    )


def cassandra_ready() -> bool:
    """CQL answers a logged-in query: the superuser exists once roles are set up, a moment
    after the port opens."""
    if not port_open(PORTS["cassandra"]):
        return False
    cluster = cassandra_cluster()
    try:
        cluster.connect().execute("SELECT release_version FROM system.local")
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False
    finally:
        cluster.shutdown()
    return True


# --- Schema registry (Apicurio) -------------------------------------------------------------


def apicurio() -> Path:
    """The registry's runner jar, unpacked once from its Maven Central distribution."""
    dest = CACHE / "apicurio" / APICURIO_VERSION
    runner = dest / f"apicurio-registry-app-{APICURIO_VERSION}-runner.jar"
    if runner.exists():
        return runner
    download = CACHE / "apicurio" / "download"
    print(f"  fetching Apicurio Registry {APICURIO_VERSION} from Maven Central (~105 MB, once)", file=sys.stderr)
    done = downloading(
        [
            "mvn",
            "-q",
            "-B",
            "dependency:copy",
            f"-Dartifact=io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all",
            f"-DoutputDirectory={download}",
        ],
        "Apicurio Registry",
        JAR_MB["apicurio"],
    )
    if done.returncode != 0:
        raise StackError(f"maven could not fetch Apicurio Registry:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    unpacking = dest.with_name(f"{dest.name}.partial")
    shutil.rmtree(unpacking, ignore_errors=True)
    unpacking.mkdir(parents=True)
    archive = download / f"apicurio-registry-app-{APICURIO_VERSION}-all.tar.gz"
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(unpacking)], check=True)
    unpacking.rename(dest)
    return runner


def prepare_registry() -> list[str]:
    # H2 in a file rather than the server's default in-memory database: registered schemas and
    # their ids outlive a restart, as a real registry's store does, so a registry killed while
    # ads flow (make chaos) comes back knowing every id its producers framed.
    data = STACK / "registry"
    data.mkdir(parents=True, exist_ok=True)
    return java(
        "-Xmx256m",
        f"-Dapicurio.datasource.url=jdbc:h2:file:{data / 'registry'}",
        f"-Dquarkus.http.port={PORTS['registry']}",
        f"-Dquarkus.http.host={HOST}",
        "-jar",
        str(apicurio()),
    )


# --- Prometheus and Pushgateway --------------------------------------------------------------


def prepare_pushgateway() -> list[str]:
    return ["prometheus-pushgateway", f"--web.listen-address={HOST}:{PORTS['pushgateway']}"]


def render_rules() -> Path:
    """The chart's alert and recording rules, rendered as the cluster gets them."""
    import yaml

    helm = ROOT / "bin" / "helm"
    if not helm.exists():
        raise StackError("prometheus: ./bin/helm is missing to render the chart's rules; run `make tools`")
    apis = [f"--api-versions={api}" for api in ("monitoring.coreos.com/v1/ServiceMonitor",)]
    done = subprocess.run(
        [
            str(helm),
            "template",
            "local",
            str(ROOT / "charts" / "tidemark"),
            *apis,
            "--set",
            "kafka.external.enabled=true",
            "--set",
            "kafka.external.bootstrapServers=x:9092",
            "--set",
            "kafka.external.securityProtocol=PLAINTEXT",  # no login to name: only the rules are wanted
            "--set",
            "cassandra.external.enabled=true",
            "--set",
            "cassandra.external.hosts=x",
            "--set",
            "cassandra.external.existingSecret=x",
            "--set",
            "cassandra.external.adminSecret=x",
            "--show-only",
            "templates/monitoring/monitors.yaml",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise StackError(f"prometheus: rendering the chart's rules failed:\n{done.stderr}")
    rule = next(d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "PrometheusRule")
    return write(STACK / "conf" / "rules.yaml", yaml.safe_dump({"groups": rule["spec"]["groups"]}))


def prepare_prometheus() -> list[str]:
    rules = render_rules()
    conf = write(
        STACK / "conf" / "prometheus.yml",
        f"""\
global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files: [{rules}]
scrape_configs:
  - job_name: pushgateway
    # Jobs push their own job/instance labels; keep them.
    honor_labels: true
    static_configs: [{{targets: ["{HOST}:{PORTS["pushgateway"]}"]}}]
  - job_name: producer
    static_configs: [{{targets: ["{HOST}:{os.environ.get("TIDEMARK_PRODUCER_METRICS_PORT", "18000")}"]}}]
""",
    )
    return [
        "prometheus",
        f"--config.file={conf}",
        f"--storage.tsdb.path={STACK / 'data' / 'prometheus'}",
        f"--web.listen-address={HOST}:{PORTS['prometheus']}",
        "--storage.tsdb.retention.time=2d",
    ]


SERVICES = [
    Server("mariadb", PORTS["mariadb"], prepare_mariadb, mariadb_ready, 60, STACK, mariadb_users),
    Server("kafka", PORTS["kafka"], prepare_kafka, kafka_ready, 90, STACK, kafka_acls),
    Server("cassandra", PORTS["cassandra"], prepare_cassandra, cassandra_ready, 180, STACK),
    Server("connect", PORTS["connect"], prepare_connect, connect_ready, 120, STACK),
    Server(
        "pushgateway",
        PORTS["pushgateway"],
        prepare_pushgateway,
        lambda: answers_ok(f"http://{HOST}:{PORTS['pushgateway']}/-/ready"),
        30,
        STACK,
    ),
    Server(
        "prometheus",
        PORTS["prometheus"],
        prepare_prometheus,
        lambda: answers_ok(f"http://{HOST}:{PORTS['prometheus']}/-/ready"),
        30,
        STACK,
    ),
    Server("registry", PORTS["registry"], prepare_registry, lambda: answers_ok(f"{REGISTRY_URL}/subjects"), 90, STACK),
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
        "TIDEMARK_CASSANDRA_HOSTS": HOST,
        "TIDEMARK_CASSANDRA_PORT": str(PORTS["cassandra"]),
        "TIDEMARK_MYSQL_HOST": HOST,
        "TIDEMARK_MYSQL_PORT": str(PORTS["mariadb"]),
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
