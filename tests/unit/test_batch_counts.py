"""A batch's records per partition are counted while its first pass reads them (jobs/ingest.py
`Delivered`), whatever number of rows each record gives: skipped offsets need no second read."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType

from jobs.ingest import Delivered
from jobs.spec import Placement, Reject, python_classifier

CLOCK = datetime(2026, 11, 22, 11, 30)
PLACE = Placement(now=CLOCK, shards=4, max_payload_bytes=1_000, max_future_seconds=3_600, retention_days=7)


def rows_of(payload: bytes) -> list[dict[str, Any]] | Reject:
    """`b"3"` gives three rows, `b"0"` none (an empty array's message), `b"x"` a reject."""
    if not payload.isdigit():
        return Reject("not_a_number")
    return [{"event_time": CLOCK - timedelta(minutes=1), "n": i} for i in range(int(payload))]


classify = python_classifier(rows_of, [("n", IntegerType())], "n", 60)


def test_should_count_each_partitions_records_in_the_pass_that_writes_them(spark: SparkSession) -> None:
    rows = [(b"3", "t", 0, 10), (b"0", "t", 0, 11), (b"x", "t", 0, 13), (b"1", "t", 1, 7), (b"0", "u", 0, 2)]
    batch = spark.createDataFrame(
        [(value, topic, partition, offset, CLOCK) for value, topic, partition, offset in rows],
        "value binary, topic string, partition int, offset long, timestamp timestamp",
    )
    delivered = Delivered({"t": {"0": 14, "1": 8}, "u": {"0": 3}})
    classified = classify(delivered.observe(batch), PLACE).persist()
    try:
        # Only the valid rows are written, as ingest's raw pass; later passes read the cache.
        classified.where(F.col("reason").isNull()).write.format("noop").mode("overwrite").save()
        assert classified.where(F.col("reason").isNotNull()).count() == 1
        assert delivered.counts() == {("t", 0): 3, ("t", 1): 1, ("u", 0): 1}
    finally:
        classified.unpersist()


def test_should_say_when_no_pass_reported_the_counts(spark: SparkSession, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Delivered, "WAIT_SECONDS", 0.2)
    batch = spark.createDataFrame(
        [(b"1", "t", 0, 0, CLOCK)], "value binary, topic string, partition int, offset long, timestamp timestamp"
    )
    delivered = Delivered({"t": {"0": 1}})
    delivered.observe(batch)
    assert delivered.counts() is None


def test_should_leave_a_batch_without_a_range_as_it_is(spark: SparkSession) -> None:
    batch = spark.createDataFrame(
        [(b"1", "t", 0, 0, CLOCK)], "value binary, topic string, partition int, offset long, timestamp timestamp"
    )
    delivered = Delivered({})
    assert delivered.observe(batch) is batch
    assert delivered.counts() == {}
