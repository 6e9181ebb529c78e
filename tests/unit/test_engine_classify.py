"""The engine's classifier around a stream's Python parse: one record can never stop a batch."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from pyspark.sql import SparkSession
from pyspark.sql.types import StringType

from jobs.spec import Placement, Unavailable, python_classifier, time_bounds_micros

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


def unavailable(payload: bytes) -> list[dict[str, object]]:
    if payload == b"needs the registry":
        raise Unavailable("the schema registry did not answer")
    return [{"event_time": NOW, "name": payload.decode()}]


def test_should_fail_the_batch_when_a_dependency_is_down_never_reject_its_record(spark: SparkSession) -> None:
    classify = python_classifier(unavailable, [("name", StringType())], "name", 60)
    frame = classify(records(spark, [b"a", b"needs the registry"]), Placement(NOW, 4, 1000, 3600, 0))  # type: ignore[arg-type]
    with pytest.raises(Exception, match="the schema registry did not answer"):
        frame.collect()


@pytest.mark.parametrize("zone", ["Pacific/Chatham", "America/Los_Angeles"])
def test_should_bound_event_times_in_utc_whatever_the_process_zone(zone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    placement = Placement(NOW, 4, 1000, 3600, 1)  # a day back, an hour ahead
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        oldest, newest = time_bounds_micros(placement)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert (oldest, newest) == (
        int(datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc).timestamp() * 1_000_000),
        int(datetime(2026, 11, 22, 13, 0, tzinfo=timezone.utc).timestamp() * 1_000_000),
    )


def test_should_give_a_raw_row_its_retention_from_its_event_time(spark: SparkSession) -> None:
    from jobs.spec import MAX_TTL_SECONDS, seconds_to_live

    times = [NOW, datetime(2026, 11, 20, 12, 0, 0, 500_000), datetime(2026, 11, 19, 12, 0), datetime(2026, 1, 1)]
    frame = spark.createDataFrame([(t,) for t in times], "event_time timestamp")
    three_days = Placement(NOW, 4, 1000, 3600, 3)
    got = [r.ttl for r in frame.select(seconds_to_live(frame.event_time, three_days).alias("ttl")).collect()]
    # Three days from now's event; a day and half a second from one two days old, floored;
    # one at the horizon (or past it) keeps a second, never 0 (which Cassandra reads as "forever").
    assert got == [3 * 86_400, 86_400, 1, 1]
    ages = Placement(NOW, 4, 1000, 3600, 100 * 365)
    assert frame.select(seconds_to_live(frame.event_time, ages)).first()[0] == MAX_TTL_SECONDS
