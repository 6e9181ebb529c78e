"""The Spark session every job runs in."""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
import time
from pathlib import Path

import pyspark
from pyspark.sql import SparkSession

from jobs.settings import JobSettings
from wire.store_tls import cassandra_spark_options

KAFKA_CONNECTOR = "spark-sql-kafka-0-10_*.jar"
# Generated classes Spark keeps compiled: every stream's plans, several times over.
CODEGEN_CACHE_ENTRIES = 2_000


def connector_jars(settings: JobSettings) -> list[str]:
    """The connector jars to add: TIDEMARK_SPARK_JARS_DIR's, none when Spark already ships them
    (the jobs image), else the newest ones `make stack-up` cached. Stops with a message that
    names the setting when there are none, instead of Spark's "Failed to find data source"."""
    if settings.spark_jars_dir:
        return sorted(str(p) for p in Path(settings.spark_jars_dir).glob("*.jar"))
    spark_home = Path(os.environ.get("SPARK_HOME") or Path(pyspark.__file__).parent)
    if any((spark_home / "jars").glob(KAFKA_CONNECTOR)):
        return []
    # Where `make stack-up` caches them (local/stack.py: one folder per pom content).
    cache = Path(os.environ.get("TIDEMARK_CACHE_DIR", Path.home() / ".cache" / "tidemark")) / "jars"
    cached = sorted(cache.glob(f"spark-*/{KAFKA_CONNECTOR}"), key=lambda p: p.stat().st_mtime)
    if cached:
        return sorted(str(p) for p in cached[-1].parent.glob("*.jar"))
    raise SystemExit(
        "TIDEMARK_SPARK_JARS_DIR is not set and no connector jars are cached in "
        f"{cache}: run `make stack-up` (it fetches them), or set TIDEMARK_SPARK_JARS_DIR to a "
        'folder of the Kafka, Cassandra and MySQL connector jars (`eval "$(python local/stack.py env)"`)'
    )


def session(settings: JobSettings, app_name: str) -> SparkSession:
    # Buckets and hours are computed in UTC everywhere: the JVM, Spark SQL and the Python
    # side that turns collected timestamps into datetimes.
    os.environ["TZ"] = "UTC"
    time.tzset()
    builder = (
        SparkSession.builder.master(settings.spark_master)
        .appName(f"tidemark-{app_name}")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", f"-Duser.timezone=UTC {log_options(settings)}")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        # One driver plans many streams' queries; past Spark's default of 100 generated classes
        # the cache evicts and recompiles them (and the JIT compiles them again) every batch.
        .config("spark.sql.codegen.cache.maxEntries", str(CODEGEN_CACHE_ENTRIES))
        # A cached micro-batch lives for seconds: compressing it costs more CPU than it saves.
        .config("spark.sql.inMemoryColumnarStorage.compressed", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.extensions", "com.datastax.spark.connector.CassandraSparkExtensions")
        .config("spark.cassandra.connection.host", settings.cassandra_hosts)
        .config("spark.cassandra.connection.port", str(settings.cassandra_port))
        # A column a row leaves empty is not written at all: writing it as NULL would store a
        # tombstone per empty field, which every later read of the bucket must step over.
        .config("spark.cassandra.output.ignoreNulls", "true")
        .config("spark.cassandra.output.batch.size.bytes", str(settings.cassandra_write_batch_bytes))
        .config("spark.cassandra.output.concurrent.writes", str(settings.cassandra_write_concurrency))
    )
    if settings.ingest_trigger == "continuous":
        # A long-running query: serve Spark's own metrics (streaming progress included) for
        # Prometheus at :<ui port>/metrics/prometheus and /metrics/executors/prometheus.
        builder = (
            builder.config("spark.ui.enabled", "true")
            .config("spark.ui.port", str(settings.spark_ui_port))
            .config("spark.ui.prometheus.enabled", "true")
            .config("spark.metrics.namespace", "tidemark")
            .config("spark.sql.streaming.metricsEnabled", "true")
            .config(
                "spark.metrics.conf.*.sink.prometheusServlet.class", "org.apache.spark.metrics.sink.PrometheusServlet"
            )
            .config("spark.metrics.conf.*.sink.prometheusServlet.path", "/metrics/prometheus")
        )
    if settings.spark_master.startswith("k8s://"):
        for key, value in kubernetes_conf(settings).items():
            builder = builder.config(key, value)
    if settings.spark_master.startswith("local"):
        # Everything runs in this process: stay on loopback and never resolve the host's name
        # (a container's name may not resolve at all).
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("SPARK_LOCAL_HOSTNAME", "localhost")
        # Python workers (a stream's parse) run in this interpreter, with its packages.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    if settings.spark_driver_memory:
        # Read when the JVM starts: PySpark hands it to spark-submit, which sizes the heap.
        builder = builder.config("spark.driver.memory", settings.spark_driver_memory)
    for key, value in cassandra_spark_options(settings).items():
        builder = builder.config(key, value)
    if settings.cassandra_username:
        builder = builder.config("spark.cassandra.auth.username", settings.cassandra_username).config(
            "spark.cassandra.auth.password", settings.cassandra_password.get_secret_value()
        )
    jars = connector_jars(settings)
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.spark_log_level)
    logging.getLogger("py4j").setLevel(settings.spark_log_level)
    return spark


def kubernetes_conf(settings: JobSettings) -> dict[str, str]:
    """Client mode on Kubernetes: this process is the driver, the executors are pods."""
    conf = {
        "spark.submit.deployMode": "client",
        "spark.driver.host": settings.spark_driver_host,
        # On the host network the pod's interfaces are the node's: listen where it advertises.
        "spark.driver.bindAddress": "127.0.0.1" if is_loopback(settings.spark_driver_host) else "0.0.0.0",
        "spark.kubernetes.container.image": settings.spark_kubernetes_image,
        "spark.kubernetes.namespace": settings.spark_kubernetes_namespace,
        "spark.kubernetes.authenticate.serviceAccountName": settings.spark_kubernetes_service_account,
        "spark.executor.instances": str(settings.spark_executor_instances),
        "spark.executor.memory": settings.spark_executor_memory,
        "spark.executor.cores": str(settings.spark_executor_cores),
        # The executors mount no claims, and the driver's role may not delete any: Spark's
        # default would try at every stop (an ERROR in each job's log), and granting it would
        # let a job delete every claim of the namespace (the stores' included).
        "spark.kubernetes.driver.ownPersistentVolumeClaim": "false",
        # Each executor's block manager on a port it picks: Spark's default (7079) is declared as
        # the executor pod's containerPort, which on the host network is a port of the node, so
        # only one executor of all the jobs could run per node and the rest stayed Pending.
        "spark.blockManager.port": "0",
        # An executor's Python workers read a UDF's naive datetimes in their process's zone:
        # UTC, whatever the image or node says (the driver sets its own in `session`).
        "spark.executorEnv.TZ": "UTC",
    }
    if settings.spark_driver_pod_name:
        conf["spark.kubernetes.driver.pod.name"] = settings.spark_driver_pod_name
    if settings.spark_executor_request_cores:
        conf["spark.kubernetes.executor.request.cores"] = settings.spark_executor_request_cores
    if settings.spark_executor_pod_template:
        # The executors' securityContext and volumes: Spark gives its pods none, and a namespace
        # that enforces the restricted Pod Security level refuses them.
        conf["spark.kubernetes.executor.podTemplateFile"] = settings.spark_executor_pod_template
    return conf


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def log_options(settings: JobSettings) -> str:
    """Points Spark's JVM at tidemark's log4j2 configuration (jobs/log4j2.properties)."""
    config = Path(__file__).with_name("log4j2.properties")
    return f"-Dlog4j2.configurationFile={config} -Dtidemark.spark.log.level={settings.spark_log_level}"
