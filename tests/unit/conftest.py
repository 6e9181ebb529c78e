"""What the unit tier shares: one local Spark session for the tests of Spark transforms."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import datetime

import pytest
from pyspark import SparkContext
from pyspark.sql import DataFrame, SparkSession


@pytest.fixture(scope="package")
def spark() -> Iterator[SparkSession]:
    # The Python parses run in Spark's Python workers, which import the stream modules: they
    # must run this interpreter (the venv's), not whatever `python3` is first on the PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # A session another tier started in this process is used as it is, and left running.
    started_here = SparkContext._active_spark_context is None
    session = (
        SparkSession.builder.master("local[1]")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .getOrCreate()
    )
    yield session
    if not started_here:
        return
    session.stop()
    # A stopped session leaves its JVM behind, and a later session in this process (the
    # integration tier's) would reuse it without the connector jars on its classpath.
    if SparkContext._gateway is not None:
        SparkContext._gateway.shutdown()
        SparkContext._gateway = None
        SparkContext._jvm = None


def records(spark: SparkSession, payloads: list[bytes]) -> DataFrame:
    """Kafka records as ingest reads them: the payloads at offsets 0, 1, … of one partition."""
    written = datetime(2026, 11, 22, 11, 30)
    rows = [(p, "t", 0, i, written) for i, p in enumerate(payloads)]
    return spark.createDataFrame(rows, "value binary, topic string, partition int, offset long, timestamp timestamp")
