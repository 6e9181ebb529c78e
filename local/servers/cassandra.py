"""Cassandra 5 on Java 17, authenticating its clients."""

from __future__ import annotations

import os
from typing import Any

from local import tls
from local.stack_base import (
    CASSANDRA_ADMIN,
    CASSANDRA_ADMIN_PASSWORD,
    HOST,
    PORTS,
    STACK,
    jars,
    java,
    write,
)
from local.supervisor import port_open
from wire.store_tls import cassandra_ssl_context

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


LOGBACK = """\
<configuration>
  <appender name="out" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%date %level [%thread] %logger{20} %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="out"/></root>
</configuration>
"""


def prepare_cassandra() -> list[str]:
    tls.ensure()
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
# Clients speak TLS only (optional: false), verifying the stack's CA: the key and chain in one
# PEM file (its key PKCS#8, unencrypted, which is what openssl 3 writes and Cassandra reads).
client_encryption_options:
  enabled: true
  optional: false
  ssl_context_factory:
    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory
  keystore: {tls.SERVER_PEM}
  require_client_auth: false
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
        ssl_context=cassandra_ssl_context(str(tls.CA)),
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
