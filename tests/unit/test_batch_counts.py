"""A batch is counted while its raw pass reads it (jobs/ingest.py `BatchCounts`): records per
partition whatever number of rows each gives, valid rows with their buckets and kinds, and
rejects. No second pass, and no cache, just to count it."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType

from jobs.ingest import BatchCounts
from jobs.spec import Placement, Reject, python_classifier

CLOCK = datetime(2026, 11, 22, 11, 30)
PLACE = Placement(now=CLOCK, shards=4, max_payload_bytes=1_000, max_future_seconds=3_600, retention_days=7)


def rows_of(payload: bytes) -> list[dict[str, Any]] | Reject:
    """`b"3"` gives three rows a minute apart, `b"0"` none (an empty array's message), `b"x"` a reject."""
    if not payload.isdigit():
        return Reject("not_a_number")
    return [{"event_time": CLOCK - timedelta(minutes=1 + i), "n": i} for i in range(int(payload))]


classify = python_classifier(rows_of, [("n", IntegerType())], "n", 60)


def kind() -> Column:
    return F.when(F.col("n") == 0, "first").otherwise("later")


def batch_of(spark: SparkSession, rows: list[tuple[bytes, str, int, int]]) -> DataFrame:
    return spark.createDataFrame(
        [(value, topic, partition, offset, CLOCK) for value, topic, partition, offset in rows],
        "value binary, topic string, partition int, offset long, timestamp timestamp",
    )


def test_should_count_a_batch_in_the_pass_that_writes_it(spark: SparkSession) -> None:
    batch = batch_of(
        spark, [(b"3", "t", 0, 10), (b"0", "t", 0, 11), (b"x", "t", 0, 13), (b"1", "t", 1, 7), (b"0", "u", 0, 2)]
    )
    counts = BatchCounts({"t": {"0": 14, "1": 8}, "u": {"0": 3}}, kind(), ("first", "later"))
    classified = counts.observe(batch, lambda records: classify(records, PLACE))
    # Only the valid rows are written, as ingest's raw pass.
    classified.where(F.col("reason").isNull()).write.format("noop").mode("overwrite").save()
    seen = counts.seen()
    assert seen is not None
    assert seen.delivered == {("t", 0): 3, ("t", 1): 1, ("u", 0): 1}
    assert (seen.valid, seen.rejected) == (4, 1)
    assert seen.buckets == {CLOCK - timedelta(minutes=m) for m in (1, 2, 3)}
    assert seen.kinds == Counter({"first": 2, "later": 2})


def test_should_say_when_no_pass_reported_the_counts(spark: SparkSession, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BatchCounts, "WAIT_SECONDS", 0.2)
    counts = BatchCounts({"t": {"0": 1}})
    counts.observe(batch_of(spark, [(b"1", "t", 0, 0)]), lambda records: classify(records, PLACE))
    assert counts.seen() is None


def test_should_count_a_batch_without_a_range_or_kinds(spark: SparkSession) -> None:
    counts = BatchCounts({})
    classified = counts.observe(batch_of(spark, [(b"1", "t", 0, 0)]), lambda records: classify(records, PLACE))
    classified.write.format("noop").mode("overwrite").save()
    seen = counts.seen()
    assert seen is not None
    assert (seen.delivered, seen.valid, seen.rejected, seen.kinds) == ({}, 1, 0, Counter())
