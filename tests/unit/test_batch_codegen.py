"""A micro-batch that differs from the last only by the clock reuses the code Spark generated
for it. A per-batch value written into the generated Java made every batch compile new
classes, and the JIT compile them again: about a third of a continuous driver's CPU."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs import ingest, versions
from jobs.spec import RAW_TTL_COLUMN, Placement, seconds_to_live
from jobs.streams import STREAMS
from producer.beacons import BeaconFactory, Mix
from producer.catalog import synthetic_catalog
from tests.unit.conftest import records


def compilations(spark: SparkSession) -> int:
    metrics = spark.sparkContext._jvm.org.apache.spark.metrics.source.CodegenMetrics  # type: ignore[union-attr]
    return int(metrics.METRIC_COMPILATION_TIME().getCount())


def one_batch(batch: DataFrame, stream: str, now: datetime) -> None:
    """What ingest runs over a batch without rejects (jobs/ingest.py), with no store to write to."""
    spec = STREAMS[stream]
    place = Placement(now=now, shards=8, max_payload_bytes=16_384, max_future_seconds=3_600, retention_days=7)
    classified = spec.classify(batch, place).persist()
    rows = classified.where(F.col("reason").isNull()).select(
        *spec.raw_columns,
        seconds_to_live(F.col("event_time"), place).alias(RAW_TTL_COLUMN),
        versions.version_of(F.col("timestamp"), F.col("offset"), place.now_micros).alias(versions.VERSION_COLUMN),
    )
    rows.write.format("noop").mode("overwrite").save()
    ingest.batch_stats(classified, spec).collect()
    classified.unpersist()


@pytest.mark.parametrize("stream", ["tracking", "ads"])
def test_a_later_batch_compiles_nothing(spark: SparkSession, stream: str) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    beacons = BeaconFactory(synthetic_catalog(20, 4, 0), Mix(late_rate=0), 0)
    payloads = [orjson.dumps(b) for b in beacons.stream(50, now - timedelta(minutes=1), timedelta(seconds=20))]
    batch = records(spark, payloads)
    clock = now.replace(tzinfo=None)
    one_batch(batch, stream, clock)
    before = compilations(spark)
    one_batch(batch, stream, clock + timedelta(seconds=5))
    assert compilations(spark) - before == 0
