"""Replaying an export of a tracking table: every value reaches ingest, and a bid that is not
money is rejected there with a reason, never turned into a missing bid or spend."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
from pyspark.sql import SparkSession

from jobs.streams.tracking import classify_records
from producer.replay import beacon_from_row, read_export

from .conftest import records

NOW = datetime(2026, 11, 22, 12, 0)
CREATE_TIME = "0d572c02-e668-11f1-a46d-cd61d8f16adf"  # 2026-11-22 11:30 UTC
# (bid as written in the export, as replay sends it, the reason ingest gives)
BIDS = [
    ("NaN", "NaN", "invalid_type"),
    ("inf", "inf", "invalid_type"),
    ("-Infinity", "-Infinity", "invalid_type"),
    ("1e400", "1e400", "non_finite_number"),
    ("-5", -5.0, "negative_value"),
    ("1e300", 1e300, "out_of_range"),
    ("2.5", 2.5, None),
    ("", None, None),
]


def csv_export(tmp_path: Path) -> Path:
    path = tmp_path / "tracking.csv"
    lines = ["create_time,bid,job_id,custom_track"]
    lines += [f"{CREATE_TIME},{written},7,click" for written, _, _ in BIDS]
    path.write_text("\n".join(lines) + "\n")
    return path


def reasons(spark: SparkSession, payloads: list[bytes]) -> list[str | None]:
    frame = classify_records(
        records(spark, payloads),
        now=NOW,
        shards=4,
        max_payload_bytes=16_384,
        max_future_seconds=3600,
        raw_ttl_days=30,
    )
    return [row.reason for row in frame.orderBy("offset").collect()]


def test_should_send_a_bid_orjson_cannot_write_as_the_text_it_was(tmp_path: Path) -> None:
    beacons = list(read_export(csv_export(tmp_path)))
    assert [b["bid"] for b in beacons] == [sent for _, sent, _ in BIDS]
    sent = [orjson.loads(orjson.dumps(b))["bid"] for b in beacons]
    assert sent == [sent for _, sent, _ in BIDS], "no bid became null on the way"


def test_should_leave_ingest_a_reject_with_a_reason_for_every_bid_that_is_not_money(
    tmp_path: Path, spark: SparkSession
) -> None:
    payloads = [orjson.dumps(b) for b in read_export(csv_export(tmp_path))]
    assert reasons(spark, payloads) == [reason for _, _, reason in BIDS]


def test_should_send_an_id_past_64_bits_as_text() -> None:
    beacon = beacon_from_row({"create_time": CREATE_TIME, "job_id": "1" + "0" * 29, "campaign_id": "9" * 5000})
    assert beacon["job_id"] == "1" + "0" * 29
    assert beacon["campaign_id"] == "9" * 5000
    orjson.dumps(beacon)  # the sender's encoding takes it


def test_should_read_json_lines_with_numbers_orjson_refuses(tmp_path: Path, spark: SparkSession) -> None:
    path = tmp_path / "tracking.jsonl"
    lines = [
        f'{{"create_time": "{CREATE_TIME}", "bid": NaN, "custom_track": "click"}}',
        f'{{"create_time": "{CREATE_TIME}", "bid": Infinity, "custom_track": "click"}}',
        f'{{"create_time": "{CREATE_TIME}", "bid": 1e400, "custom_track": "click"}}',
        f'{{"create_time": "{CREATE_TIME}", "job_id": 100000000000000000000000000000}}',
        f'{{"create_time": "{CREATE_TIME}", "bid": 2.5, "custom_track": "click"}}',
    ]
    path.write_text("\n".join(lines) + "\n")
    beacons = list(read_export(path))
    assert [b["bid"] for b in beacons] == ["NaN", "Infinity", "Infinity", None, 2.5]
    assert beacons[3]["job_id"] is not None  # orjson reads it as a float; ingest rejects either form
    got = reasons(spark, [orjson.dumps(b) for b in beacons])
    assert got == ["invalid_type", "invalid_type", "invalid_type", "invalid_type", None]
