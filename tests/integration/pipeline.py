"""One isolated tracking pipeline on the local stack: its own topic, keyspace, database and
checkpoints, so tests never see each other's data. Jobs run in this process on one shared
Spark session (their `run` functions, as `python -m jobs` calls them)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer
from pyspark.sql import SparkSession

from jobs import aggregate, backfill, dims, ingest, migrate
from jobs.metrics import RunMetrics
from jobs.settings import JobSettings, from_variables
from jobs.streams import FAMILIES
from local import kafka_users, stack, topics
from oracles.tracking import Key

from .conftest import KAFKA, ROOT, eventually, mysql_connect, unique

EVENT_COLUMNS = (
    "clicks",
    "conversion",
    "qualified_application",
    "disqualified_application",
    "impressions",
    "spend_hour",
    "bid_set",
    "company_id",
)

AD_WINDOW_COLUMNS = ("window_end", "total_clicks", "total_views", "total_cost", "event_count", "avg_cost_per_view")


@dataclass
class Pipeline:
    spark: SparkSession
    tmp: Path
    name: str = field(default_factory=lambda: unique("t"))
    report_timezone: str = "UTC"
    sent: list[dict[str, Any]] = field(default_factory=list)
    # The streams this pipeline runs; each reads its own topic, `<name>.<stream>`.
    streams: tuple[str, ...] = ("tracking",)
    # What a test sent as raw message values, and its ingest's metrics, for the oracles.
    frames: list[bytes] = field(default_factory=list)
    ingested: RunMetrics | None = None
    customers: dict[int, tuple[str, str]] = field(default_factory=dict)
    parts: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        enabled = {f"TIDEMARK_{stream.upper()}_ENABLED": str(stream in self.streams).lower() for stream in FAMILIES}
        return {
            **stack.tidemark_env(),
            **topics.run_topics(self.name),
            **enabled,
            "TIDEMARK_CDC_JOB_TOPIC": f"{self.name}.{self.name}_recruit.job",
            "TIDEMARK_CASSANDRA_KEYSPACE": self.name,
            "TIDEMARK_MYSQL_DATABASE": self.name,
            "TIDEMARK_RECRUIT_DATABASE": f"{self.name}_recruit",
            "TIDEMARK_SHOP_DATABASE": f"{self.name}_shop",
            "TIDEMARK_CHECKPOINT_DIR": str(self.tmp / "checkpoints"),
            "TIDEMARK_REPORT_TIMEZONE": self.report_timezone,
            "TIDEMARK_PUSHGATEWAY": "",
        }

    def settings(self, **overrides: Any) -> JobSettings:
        return from_variables(self.env, **overrides)

    # --- sending ---------------------------------------------------------------------------

    def send(self, beacons: list[dict[str, Any]]) -> None:
        self.send_payloads([orjson.dumps(b) for b in beacons])
        self.sent.extend(beacons)

    def send_payloads(self, payloads: list[bytes]) -> None:
        self.send_messages("tracking", [(None, p) for p in payloads])

    def send_messages(
        self, stream: str, messages: list[tuple[bytes | None, bytes]], *, timestamp_ms: int | None = None
    ) -> None:
        """`timestamp_ms`: the records' Kafka timestamp (default: the producer's clock)."""
        topics.ensure(KAFKA, [f"{self.name}.{stream}"])  # as the chart's KafkaTopic would
        producer = KafkaProducer(**kafka_users.kafka_python(KAFKA, kafka_users.PRODUCER), acks="all", linger_ms=5)
        for key, value in messages:
            producer.send(f"{self.name}.{stream}", key=key, value=value, timestamp_ms=timestamp_ms)
        producer.flush()
        producer.close()

    # --- jobs --------------------------------------------------------------------------------

    def migrate(self, *, create_topics: bool = True) -> RunMetrics:
        metrics = RunMetrics("migrate")
        if create_topics:  # what the chart's KafkaTopics do
            topics.ensure(KAFKA, topics.stream_topics(self.settings()))
        migrate.run(self.settings(), metrics)
        # The shared Spark session learns of new keyspaces through debounced schema events:
        # wait until it sees this one, as a separate migrate process would have long before.
        eventually(self._spark_sees_keyspace, 30, f"Spark to see keyspace {self.name}")
        return metrics

    def _spark_sees_keyspace(self) -> bool:
        reader = self.spark.read.format("org.apache.spark.sql.cassandra")
        try:
            fields = reader.options(keyspace=self.name, table="tracking_raw").load().schema.fields
        except Exception:  # noqa: BLE001 - not visible yet
            return False
        return bool(fields)

    def ingest(self, **overrides: Any) -> RunMetrics:
        metrics = RunMetrics("ingest")
        ingest.run(self.settings(**overrides), self.spark, metrics)
        return metrics

    def aggregate(self, **overrides: Any) -> RunMetrics:
        metrics = RunMetrics("aggregate")
        aggregate.run(self.settings(**overrides), self.spark, metrics)
        return metrics

    def dims(self) -> RunMetrics:
        metrics = RunMetrics("dims")
        dims.run(self.settings(), self.spark, metrics)
        return metrics

    def backfill(self, start: str, end: str, stream: str = "tracking", **overrides: Any) -> RunMetrics:
        metrics = RunMetrics("backfill")
        backfill.run(self.settings(**overrides), ["--stream", stream, "--from", start, "--to", end], metrics)
        return metrics

    def run_main(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """A job exactly as the CronJob runs it: `python -m jobs <name>` in its own process."""
        env = {**os.environ, **self.env, **(extra_env or {})}
        return subprocess.run(
            [sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )

    # --- reading results -----------------------------------------------------------------

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        conn = mysql_connect(self.name)
        try:
            cursor = conn.cursor()
            cursor.execute(query, params)
            return list(cursor.fetchall()) if cursor.with_rows else []
        finally:
            conn.close()

    def events(self) -> dict[Key, dict[str, Any]]:
        rows = self.sql(
            "SELECT job_id, dates, hours, publisher_id, campaign_id, group_id, "
            + ", ".join(EVENT_COLUMNS)
            + " FROM events"
        )
        out = {}
        for row in rows:
            key: Key = (row[0], row[1], row[2], row[3], row[4], row[5])
            assert isinstance(row[1], date)
            out[key] = dict(zip(EVENT_COLUMNS, row[6:], strict=True))
        return out

    def snapshot(self) -> list[tuple[Any, ...]]:
        return self.sql("SELECT * FROM events ORDER BY id")

    def ad_windows(self) -> dict[tuple[str, Any], dict[str, Any]]:
        rows = self.sql("SELECT ad_id, window_start, " + ", ".join(AD_WINDOW_COLUMNS) + " FROM ad_window_stats")
        return {(row[0], row[1]): dict(zip(AD_WINDOW_COLUMNS, row[2:], strict=True)) for row in rows}
