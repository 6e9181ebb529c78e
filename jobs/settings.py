"""The one settings class of the Spark jobs, read from TIDEMARK_* environment variables.

The variable names are the contract with the Helm chart's ConfigMap and Secret; defaults
point at the local stack (`make stack-up`) so a laptop needs no configuration.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from wire import env
from wire.kafka_auth import KafkaAccess
from wire.store_tls import CassandraTls, MysqlTls

CassandraConsistency = Literal["ONE", "LOCAL_ONE", "QUORUM", "LOCAL_QUORUM", "EACH_QUORUM", "ALL"]

ENV_PREFIX = env.ENV_PREFIX
# The local stack's install, named as the chart names one ("<namespace>/<release>").
LOCAL_RELEASE = "local/tidemark"
Loaded = TypeVar("Loaded", bound=BaseSettings)


class FamilySettings(BaseModel):
    """What TIDEMARK_<STREAM>_ENABLED and _RETENTION_DAYS set for one stream (or family of parts)."""

    enabled: bool = True
    # Raw TTL and how old an event may be; None = TIDEMARK_RAW_TTL_DAYS, 0 = keep forever
    # (e.g. to replay a year-old export).
    retention_days: int | None = Field(default=None, ge=0)


# The dict fields holding per-stream settings, and how their error locations name a variable:
# ("families", "userlogs", "enabled") is TIDEMARK_USERLOGS_ENABLED, ("topics", "ads") TIDEMARK_ADS_TOPIC.
PER_STREAM_SUFFIX = {"families": (), "topics": ("topic",)}


class ProbeSettings(BaseSettings):
    """What the continuous driver's probe (`python -m jobs.alive`) reads: a class of its own,
    so a probe run every few seconds loads two settings, not the stream registry and Spark."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # The continuous driver's heartbeat for its liveness probe: touched each interval while
    # every query made progress within ingest_stall_seconds ("" = none).
    ingest_alive_file: str = ""
    ingest_stall_seconds: int = Field(default=600, ge=30)


class JobSettings(KafkaAccess, MysqlTls, CassandraTls, ProbeSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:19092"
    # The jobs' Kafka user (KafkaAccess): the chart's <release>-jobs KafkaUser, the local stack's
    # tidemark-jobs. It may read the streams' and the CDC topic, nothing else.
    kafka_username: str = "tidemark-jobs"
    kafka_password: SecretStr = SecretStr("tidemark-jobs")
    # Spark's consumers name their groups with this prefix: the jobs' ACLs allow exactly it.
    kafka_group_prefix: str = Field(default="tidemark-jobs", min_length=1)

    # Per stream: TIDEMARK_<STREAM>_ENABLED, TIDEMARK_<STREAM>_RETENTION_DAYS and each part's
    # TIDEMARK_<PART>_TOPIC, declared by the stream registry (jobs/streams), which also gives
    # their defaults: see `_per_stream`. Not environment fields of their own, so a stream added
    # to the registry needs no line here.
    families: dict[str, FamilySettings] = Field(default_factory=dict)
    topics: dict[str, str] = Field(default_factory=dict)
    # The shop's operational database, whose `customers` the orders are joined with.
    shop_database: str = Field(default="shop", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    # Confluent-API schema registry for Avro writer schemas ("" = each stream's built-in schema).
    schema_registry_url: str = ""
    # How long one writer-schema lookup waits for a registry that does not answer (or answers
    # 5xx) before the batch fails and is left for the next run: a registry's restart fits in it.
    schema_registry_wait_seconds: int = Field(default=120, ge=0)

    # Debezium's topic for recruit.job: <topic.prefix>.<database>.<table>.
    cdc_job_topic: str = "tidemark.recruit.job"
    kafka_starting_offsets: Literal["earliest", "latest"] = "earliest"
    max_offsets_per_trigger: int = Field(default=500_000, gt=0)

    cassandra_hosts: str = "127.0.0.1"
    cassandra_port: int = Field(default=19042, gt=0, lt=65536)
    # The jobs' role: reads and writes the keyspace's tables, nothing else; migrate creates it
    # and grants it that ("" = a Cassandra that authenticates no one).
    cassandra_username: str = "tidemark"
    cassandra_password: SecretStr = SecretStr("tidemark")
    # The role migrate runs as: creates the keyspace, its tables and the jobs' role. "" = migrate
    # runs as the jobs' role and creates no role (a Cassandra whose admin made it already).
    cassandra_admin_username: str = "cassandra"
    cassandra_admin_password: SecretStr = SecretStr("cassandra")
    cassandra_keyspace: str = Field(default="tidemark", pattern=r"^[a-z][a-z0-9_]{0,47}$")
    cassandra_replication_factor: int = Field(default=1, ge=1)
    raw_ttl_days: int = Field(default=90, ge=0)
    # How Spark writes raw rows: batches of one partition's rows up to this size (keep it
    # under the server's batch_size_warn_threshold), and this many batches in flight per task.
    cassandra_write_batch_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)
    cassandra_write_concurrency: int = Field(default=16, ge=1, le=256)
    # Consistency of the raw writes and of aggregate's reads. QUORUM on both sides means a read
    # meets at least one replica every acknowledged write reached, whatever the replication
    # factor; a read at ONE could miss rows a replica has not received yet.
    cassandra_write_consistency: CassandraConsistency = "LOCAL_QUORUM"
    cassandra_read_consistency: CassandraConsistency = "LOCAL_QUORUM"

    mysql_host: str = "127.0.0.1"
    mysql_port: int = Field(default=13306, gt=0, lt=65536)
    # The jobs' account: reads and writes the aggregates' database, reads the operational ones.
    mysql_user: str = "tidemark"
    mysql_password: SecretStr = SecretStr("tidemark")
    # The account migrate runs its DDL as, the tables' owner (the jobs' account runs none).
    mysql_migrate_user: str = "tidemark_migrate"
    mysql_migrate_password: SecretStr = SecretStr("tidemark_migrate")
    mysql_database: str = Field(default="analytics", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    recruit_database: str = Field(default="recruit", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")

    report_timezone: str = "UTC"
    shards: int = Field(default=8, ge=1, le=1024)
    max_payload_bytes: int = Field(default=16_384, ge=256)
    max_future_seconds: int = Field(default=3_600, ge=0)
    # Aggregate works through its dirty buckets this many at a time, each chunk one Spark job
    # and one commit; a chunk's partials are held by the driver while it commits them.
    aggregate_chunk_buckets: int = Field(default=60, ge=1, le=10_000)
    # A second aggregate of the same stream waits this long for the first, then exits 0.
    aggregate_lock_wait_seconds: int = Field(default=30, ge=0)
    # How long MySQL keeps an aggregate's lock after its run stops answering (a frozen or
    # vanished host): the run pings its lock connection well within it while it lives.
    aggregate_lock_idle_seconds: int = Field(default=60, ge=3)

    checkpoint_dir: str = ".stack/checkpoints"
    spark_master: str = "local[*]"
    spark_jars_dir: str = ""
    spark_shuffle_partitions: int = Field(default=4, ge=1)
    # The driver JVM's heap, e.g. "2g" (spark.driver.memory; "" = Spark's default, 1g). Below
    # 1g the continuous driver of all four streams spends its cycles collecting: README.
    spark_driver_memory: str = Field(default="", pattern=r"^([0-9]+[kmgt]?)?$")
    # Spark on Kubernetes (client mode: this process is the driver, executors are pods).
    spark_driver_host: str = ""
    # The driver's own pod ("" = not in a pod): Spark makes it the executors' owner, so they go
    # when it goes.
    spark_driver_pod_name: str = ""
    spark_kubernetes_image: str = ""
    spark_kubernetes_namespace: str = ""
    spark_kubernetes_service_account: str = ""
    spark_executor_instances: int = Field(default=2, ge=1)
    spark_executor_memory: str = Field(default="1g", pattern=r"^[0-9]+[kmgt]?$")
    spark_executor_cores: int = Field(default=1, ge=1)
    # CPU each executor pod requests, e.g. "100m" ("" = spark_executor_cores).
    spark_executor_request_cores: str = Field(default="", pattern=r"^([0-9]+m|[0-9]+(\.[0-9]+)?)?$")
    # A pod template file for the executors (the chart mounts one with a restricted securityContext).
    spark_executor_pod_template: str = ""
    ingest_trigger: Literal["available-now", "continuous"] = "available-now"
    ingest_interval_seconds: int = Field(default=5, ge=1)
    # Ingest aggregates the buckets a micro-batch marked right after it, in the same Spark
    # session: freshness of seconds with the continuous trigger, one JVM start per cycle with
    # a CronJob. Off, aggregate is its own job.
    ingest_aggregates: bool = False
    # Each such aggregation recomputes the stream's newest dirty buckets, this many: where its
    # newest events are, so what freshness measures. Re-reading every bucket a batch touched
    # (late events spread a batch over the last half hour) each cycle re-read nine times
    # what ingest wrote.
    ingest_fresh_buckets: int = Field(default=2, ge=1, le=60)
    # The stream's other dirty buckets (late events, a backfill) join one aggregation after a
    # batch at most this often (0 = every batch): a late event is in MySQL within about this.
    ingest_late_aggregate_seconds: int = Field(default=60, ge=0)
    # Chunks (of aggregate_chunk_buckets) of those older buckets one aggregation does at most,
    # newest first: after a big backfill a micro-batch stays short (its probes never see a
    # stall) and fresh data stays fresh; the aggregate CronJob works through the backlog.
    ingest_aggregate_chunks: int = Field(default=2, ge=1)
    spark_ui_port: int = Field(default=4040, gt=0, lt=65536)
    # Spark's own log level (its JVM and py4j); ERROR keeps a job's log to its stage lines.
    spark_log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "ERROR"

    pushgateway: str = ""
    # The install a run's metrics belong to (their `release` label, part of every group pushed):
    # two releases or namespaces sharing a Pushgateway and a Prometheus keep their own series.
    # The chart sets "<namespace>/<release>"; the local stack is namespace "local", release
    # "tidemark" (the rules it renders from the chart carry that too).
    release: str = Field(default=LOCAL_RELEASE, min_length=1)
    # Fault injection for the crash-recovery test: fail after the upserts, before the
    # watermark and the commit.
    aggregate_fail_before_watermark: bool = False

    @model_validator(mode="before")
    @classmethod
    def _per_stream(cls, data: Any) -> Any:
        """Fills `families` and `topics` from the variables the registry declares: keyword
        arguments by their field-like names (`tracking_topic=…`), else the environment (in any
        case, as the other settings). Entries given in `families` or `topics` themselves (a
        copy of dumped settings) win over both."""
        # Imported here: the registry's specs import this module for its types.
        from jobs.streams import per_stream_settings

        derived = per_stream_settings(env.given(data))
        for name in PER_STREAM_SUFFIX:
            explicit = dict(data).get(name)
            if isinstance(explicit, dict):
                derived[name] = {**derived[name], **explicit}
        return {**data, **derived}

    @model_validator(mode="after")
    def _kubernetes_needs_an_image(self) -> JobSettings:
        if self.spark_master.startswith("k8s://") and not (self.spark_kubernetes_image and self.spark_driver_host):
            raise ValueError(
                "TIDEMARK_SPARK_MASTER is k8s://…: "
                "TIDEMARK_SPARK_KUBERNETES_IMAGE and TIDEMARK_SPARK_DRIVER_HOST are required"
            )
        return self

    @field_validator("report_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {value!r}") from e
        return value


def settings_help(model: type[BaseSettings], per_stream: Sequence[tuple[str, Any]] = ()) -> str:
    """The jobs' settings for --help, with the registry's per-stream ones (`per_stream`)."""
    return env.settings_help(model, per_stream, PER_STREAM_SUFFIX)


def describe(error: ValidationError) -> str:
    return env.describe(error, PER_STREAM_SUFFIX)


def from_variables(variables: Mapping[str, str], **overrides: Any) -> JobSettings:
    """Settings from `TIDEMARK_*` variables handed over as a mapping (the local stack's, a test
    pipeline's) rather than read from this process's environment; `overrides` by field name."""
    values: dict[str, Any] = {name.removeprefix("TIDEMARK_").lower(): v for name, v in variables.items()}
    return JobSettings(**{**values, **overrides})


@overload
def load() -> JobSettings: ...
@overload
def load(model: type[Loaded]) -> Loaded: ...
def load(model: type[BaseSettings] = JobSettings) -> BaseSettings:
    """Settings from the environment; a bad one stops the process naming the variable."""
    try:
        return model(_secrets_dir=env.secrets_dir())
    except ValidationError as e:
        sys.exit(describe(e))
    except SettingsError as e:  # a value the environment source could not even parse
        sys.exit(f"invalid settings: {e}")
