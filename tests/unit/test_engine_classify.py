"""The engine's classifier around a stream's Python parse: one record can never stop a batch."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import SparkSession
from pyspark.sql.types import StringType

from jobs.spec import Placement, python_classifier

from .conftest import records

NOW = datetime(2026, 11, 22, 12, 0)


def parse(payload: bytes) -> list[dict[str, object]]:
    if payload == b"poison":
        raise RecursionError("maximum recursion depth exceeded")
    return [{"event_time": NOW, "name": payload.decode()}]


def test_should_reject_a_record_whose_parse_raises_and_keep_the_rest(spark: SparkSession) -> None:
    classify = python_classifier(parse, [("name", StringType())], "name", 60)
    frame = classify(records(spark, [b"a", b"poison", b"b"]), Placement(NOW, 4, 1000, 3600, 0))  # type: ignore[arg-type]
    got = [(r.offset, r.reason, r.detail, r.name) for r in frame.orderBy("offset").collect()]
    assert got == [
        (0, None, None, "a"),
        (1, "parse_error", "RecursionError: maximum recursion depth exceeded", None),
        (2, None, None, "b"),
    ]
