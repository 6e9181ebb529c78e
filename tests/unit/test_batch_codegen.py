"""A micro-batch that differs from the last only by the clock reuses the code Spark generated
for it. A per-batch value written into the generated Java made every batch compile new
classes, and the JIT compile them again: about a third of a continuous driver's CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs import ingest, versions
from jobs.spec import RAW_TTL_COLUMN, Placement, seconds_to_live
from jobs.streams import STREAMS
from producer.beacons import BeaconFactory, Mix
from producer.catalog import synthetic_catalog
from tests.conftest import ROOT
from tests.unit.conftest import records


def compilations(spark: SparkSession) -> int:
    metrics = spark.sparkContext._jvm.org.apache.spark.metrics.source.CodegenMetrics  # type: ignore[union-attr]
    return int(metrics.METRIC_COMPILATION_TIME().getCount())


def one_batch(batch: DataFrame, stream: str, now: datetime) -> None:
    """What ingest runs over a batch without rejects (jobs/ingest.py), with no store to write to."""
    spec = STREAMS[stream]
    place = Placement(now=now, shards=8, max_payload_bytes=16_384, max_future_seconds=3_600, retention_days=7)
    counts = ingest.BatchCounts({"t": {"0": 1_000}}, spec.kind() if spec.kind is not None else None, spec.kinds)
    classified = counts.observe(batch, lambda records: spec.classify(records, place))
    rows = classified.where(F.col("reason").isNull()).select(
        *spec.raw_columns,
        seconds_to_live(F.col("event_time"), place).alias(RAW_TTL_COLUMN),
        versions.version_of(F.col("timestamp"), F.col("offset"), place.now_micros).alias(versions.VERSION_COLUMN),
    )
    rows.write.format("noop").mode("overwrite").save()
    assert counts.seen() is not None


def tracking_batch(spark: SparkSession) -> tuple[DataFrame, datetime]:
    """Fifty beacons of the last minute, and the clock of the batch that reads them."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    beacons = BeaconFactory(synthetic_catalog(20, 4, 0), Mix(late_rate=0), 0)
    payloads = [orjson.dumps(b) for b in beacons.stream(50, now - timedelta(minutes=1), timedelta(seconds=20))]
    return records(spark, payloads), now.replace(tzinfo=None)


@pytest.mark.parametrize("stream", ["tracking", "ads"])
def test_a_later_batch_compiles_nothing(spark: SparkSession, stream: str) -> None:
    batch, clock = tracking_batch(spark)
    one_batch(batch, stream, clock)
    before = compilations(spark)
    one_batch(batch, stream, clock + timedelta(seconds=5))
    assert compilations(spark) - before == 0


# Run in a process of its own: the cache's size is fixed when a JVM starts its first session.
KEEPS_EVERY_PLAN = """
from datetime import timedelta
from pyspark.sql import functions as F
from jobs.settings import load
from jobs.spark import session
from tests.unit import test_batch_codegen as t

spark = session(load(), "codegen-cache")
batch, clock = t.tracking_batch(spark)
t.one_batch(batch, "tracking", clock)
for i in range(150):  # the other streams' plans, as many generated classes as they bring
    spark.range(3).select((F.col("id") * i).alias("x")).collect()
before = t.compilations(spark)
t.one_batch(batch, "tracking", clock + timedelta(seconds=5))
print(t.compilations(spark) - before)
"""


def test_a_driver_keeps_the_code_of_many_plans(tmp_path: Path) -> None:
    """Past 100 generated classes (Spark's default cache) a continuous driver of every stream
    evicted and compiled its plans again each batch."""
    env = {**os.environ, "TIDEMARK_SPARK_JARS_DIR": str(tmp_path), "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(
        [sys.executable, "-c", KEEPS_EVERY_PLAN], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "0"
