"""Tracking's Spark SQL classification against its pure parse (jobs/streams/beacon.py).

The same records go through both: `classify_records`, what ingest runs, and the engine's
`python_classifier` over `beacon.parse`, the reference. Every record must get the same reason
and detail, and every accepted one the same raw row: bucket, shard, event time and every
field. The records are the bad-input corpus, the producer's beacons, and a few thousand
beacons with a field given an odd value or the message broken in a generated way.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DoubleType, IntegerType, StringType

from jobs.spec import Placement, Reject, python_classifier
from jobs.streams import tracking
from jobs.streams.beacon import java_double, parse, spark_text
from producer.beacons import BeaconFactory, Mix, timeuuid_at
from producer.catalog import synthetic_catalog
from wire.formats import BEACON_FIELDS

from . import corpus
from .conftest import records

NOW = datetime(2026, 11, 22, 12, 0)
# A beacon field's Spark type by its raw table's type (wire.formats.BEACON_FIELDS).
SPARK_TYPES: dict[str, DataType] = {
    "timeuuid": StringType(),
    "text": StringType(),
    "int": IntegerType(),
    "double": DoubleType(),
}
PLACEMENT = Placement(NOW, 8, 16_384, 3_600, 30)

# Values a field may be given: each JSON type, numbers Java writes differently from Python,
# blanks, spaces, escapes and control characters, nesting, duplicate keys inside a value.
ODD_VALUES = [
    "null",
    "true",
    "false",
    "0",
    "-0",
    "7",
    "-7",
    "007x",
    "123456789",
    "1234567890",
    "12345678901234567890",
    "0.10",
    "-0.0",
    "1e5",
    "1E20",
    "1e-5",
    "1.0e+2",
    "0.001",
    "0.0001",
    "9999999.0",
    "10000000.0",
    "123456789012.5",
    "1e400",
    "-1e400",
    "NaN",
    "-Infinity",
    "Infinity",
    "2.5",
    "999999.999999",
    "1000000.000001",
    "-3.5",
    "1.00000000000000000001",
    '""',
    '" "',
    '"  7 "',
    '"7"',
    '" 7"',
    '"7\\n"',
    '"7\\r"',
    '"\\t"',
    '"1.5"',
    '"1e3"',
    '"-2"',
    '"NaN"',
    '"Infinity"',
    '"abc"',
    '"é\\u001f\\n/\\u00e9"',
    '"\\ud800"',
    '"\\u0000"',
    '"0D572C02-E668-11F1-A46D-CD61D8F16ADF"',
    '" 0d572c02-e668-11f1-a46d-cd61d8f16adf "',
    '"0d572c02-e668-21f1-a46d-cd61d8f16adf"',
    "[]",
    "[1, 2.0, true, null]",
    "{}",
    '{"jobId" : 7, "publisherId": "3"}',
    '{"x": 1, "x": 2.50}',
    '{"a": {"b": [1e20, "\\ud800"]}}',
]


def _beacons(count: int, seed: int) -> list[dict[str, Any]]:
    mix = Mix(late_rate=0, duplicate_rate=0)
    now = NOW.replace(tzinfo=timezone.utc)
    return list(BeaconFactory(synthetic_catalog(20, 4, 3), mix, seed).stream(count, now, timedelta(minutes=5)))


def _with(beacon: dict[str, Any], name: str, value: str) -> bytes:
    """The beacon as JSON text with field `name` given `value` (JSON text) in place."""
    members = [f"{json.dumps(k)}: {value if k == name else json.dumps(v)}" for k, v in beacon.items()]
    if name not in beacon:
        members.append(f"{json.dumps(name)}: {value}")
    return ("{" + ", ".join(members) + "}").encode()


def _broken(text: bytes, rng: random.Random) -> bytes:
    """The message broken the way a wire or a producer breaks one."""
    cut = rng.randrange(1, len(text))
    return rng.choice(
        [
            text[:cut],  # truncated
            text + rng.choice([b" and then", b"{}", b"\n", b" ", b"\x0b", b"}"]),
            text[:cut] + bytes([rng.randrange(128, 256)]) + text[cut:],  # not UTF-8, maybe
            text.replace(b'"job_id"', b'"job_id": 1, "job_id"', 1),  # a key twice
            text.replace(b'"create_time"', b'"Create_Time"', 1),
            b"[" + text + b"]",
            b"\xef\xbb\xbf" + text,
            text.replace(b"{", b"{ ", 1).replace(b"}", b" }"),
        ]
    )


def generated(seed: int = 20261207) -> list[bytes]:
    """The producer's beacons, each field given each odd value, and broken messages."""
    rng = random.Random(seed)
    beacons = _beacons(60, seed)
    payloads = [orjson.dumps(b) for b in beacons]
    for name in BEACON_FIELDS:
        for value in ODD_VALUES:
            payloads.append(_with(rng.choice(beacons), name, value))
    # Times within and beyond the bounds (40 days back, a year ahead), alone and with a wrong field.
    for days in (0, -40, 365):
        moment = NOW.replace(tzinfo=timezone.utc) + timedelta(days=days)
        beacon = dict(rng.choice(beacons), create_time=timeuuid_at(moment, rng))
        payloads += [orjson.dumps(beacon), orjson.dumps(dict(beacon, job_id="seven"))]
    payloads += [_broken(rng.choice(payloads[:60]), rng) for _ in range(400)]
    return payloads


def _rows(frame: DataFrame) -> dict[int, list[dict[str, Any]]]:
    frame = frame.withColumn("event_time", F.col("event_time").cast("string")).withColumn(
        "bucket", F.col("bucket").cast("string")
    )
    by_offset: dict[int, list[dict[str, Any]]] = {}
    for row in frame.collect():
        # A reject is its reason and detail: what else its row holds is not kept.
        kept = row.asDict() if row["reason"] is None else {k: row[k] for k in ("offset", "reason", "detail")}
        by_offset.setdefault(row["offset"], []).append(kept)
    return by_offset


def both(spark: SparkSession, payloads: list[bytes]) -> tuple[dict[int, Any], dict[int, Any]]:
    """Each record's rows from the Spark SQL path and from the pure parse, by offset."""
    batch = records(spark, payloads)
    fields = [(n, SPARK_TYPES[kind]) for n, kind in BEACON_FIELDS.items()]
    reference = python_classifier(parse, fields, "create_time", tracking.TRACKING_BUCKET_SECONDS)
    return _rows(tracking.classify(batch, PLACEMENT)), _rows(reference(batch, PLACEMENT))


def differences(spark: SparkSession, payloads: list[bytes]) -> list[tuple[bytes, Any, Any]]:
    by_spark, by_parse = both(spark, payloads)
    return [(p, by_spark.get(i), by_parse.get(i)) for i, p in enumerate(payloads) if by_spark.get(i) != by_parse.get(i)]


def test_should_judge_the_corpus_as_the_parse_does(spark: SparkSession) -> None:
    payloads = [case.payload for case in corpus.load("tracking").cases]
    assert differences(spark, payloads) == []


def test_should_judge_generated_beacons_as_the_parse_does(spark: SparkSession) -> None:
    payloads = generated()
    by_spark, _ = both(spark, payloads)
    reasons = {row["reason"] for rows in by_spark.values() for row in rows}
    # The generated records reach every verdict, so agreeing means something.
    assert reasons >= {
        None,
        "bad_json",
        "missing_create_time",
        "bad_create_time",
        "invalid_type",
        "non_finite_number",
        "negative_value",
        "out_of_range",
        "absurd_time",
    }, reasons
    assert differences(spark, payloads)[:5] == []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1, "0.1"),
        (100000.0, "100000.0"),
        (1e20, "1.0E20"),
        (1e-5, "1.0E-5"),
        (0.001, "0.001"),
        (1e7, "1.0E7"),
        (9999999.0, "9999999.0"),
        (123456789012.5, "1.234567890125E11"),
        (-0.0, "-0.0"),
        (2.2250738585072014e-308, "2.2250738585072014E-308"),
    ],
)
def test_should_write_a_double_as_java_does(value: float, text: str) -> None:
    assert java_double(value) == text


def test_should_give_a_text_field_what_sparks_reader_gives_it() -> None:
    got = parse(_with(_beacons(1, 1)[0], "ed", '{"x" : 1, "x": 2.50, "s": "é\\u001f\\n/\\u00e9", "n": 1e400}'))
    assert not isinstance(got, Reject)
    assert got[0]["ed"] == '{"x":1,"x":2.5,"s":"é\\u001F\\n/é","n":"Infinity"}'
    assert spark_text("\ud800") == "?"
