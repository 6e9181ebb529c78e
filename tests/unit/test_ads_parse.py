"""The ads stream's pure parse: Confluent-framed Avro bytes to one raw row or a reject."""

from __future__ import annotations

import struct
from datetime import datetime
from typing import Any

import pytest

from jobs.spec import Reject, iso_instant
from jobs.streams.ads import parse
from producer.ads import AdEventFactory, encode

RECORD = {"ad_id": "ad_0007", "timestamp": "2026-11-22T10:00:15", "clicks": 3, "views": 40, "cost": 12.5}


def row(**changes: Any) -> dict[str, Any]:
    got = parse(encode({**RECORD, **changes}))
    assert isinstance(got, list), got
    (only,) = got
    return only


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2026-11-22T10:00:15", datetime(2026, 11, 22, 10, 0, 15)),
        ("2026-11-22T10:00:15Z", datetime(2026, 11, 22, 10, 0, 15)),
        ("2026-11-22T10:00:15.25", datetime(2026, 11, 22, 10, 0, 15, 250000)),
        ("2026-11-22T10:00:15.123456789+00:00", datetime(2026, 11, 22, 10, 0, 15, 123456)),
        ("2026-11-22T12:30:15+02:30", datetime(2026, 11, 22, 10, 0, 15)),
        ("2026-11-22T05:00:15-0500", datetime(2026, 11, 22, 10, 0, 15)),
        ("2026-11-22 10:00:15", datetime(2026, 11, 22, 10, 0, 15)),
        ("2026-11-22", None),
        ("2026-02-30T00:00:00", None),
        ("yesterday", None),
        ("2026-11-22T10:00:15+25:00", None),
        ("0001-01-01T00:00:00+01:00", None),  # before datetime.min in UTC
        ("9999-12-31T23:30:00-01:00", None),  # after datetime.max in UTC
    ],
)
def test_should_read_iso_timestamps_in_utc(text: str, want: datetime | None) -> None:
    assert iso_instant(text) == want


def test_should_give_the_event_its_time_and_fields() -> None:
    got = row(timestamp="2026-11-22T11:00:15+01:00")
    assert got["event_time"] == datetime(2026, 11, 22, 10, 0, 15)
    assert (got["ad_id"], got["clicks"], got["views"], got["cost"], got["schema_id"]) == ("ad_0007", 3, 40, 12.5, 1)


def test_should_identify_an_event_by_its_whole_record() -> None:
    assert row()["event_id"] == row()["event_id"]
    assert row(cost=12.51)["event_id"] != row()["event_id"]
    assert row(timestamp="2026-11-22T10:00:15Z")["event_id"] != row()["event_id"], "a field differs"


def _frame(body: bytes, magic: int = 0) -> bytes:
    return bytes([magic]) + struct.pack(">I", 1) + body


BODY = encode(RECORD)[5:]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "too_short"),
        (b"\x00\x00\x00\x01", "too_short"),
        (_frame(BODY, magic=1), "bad_magic_byte"),
        (_frame(BODY[:-3]), "bad_avro"),
        (_frame(BODY + b"\x00"), "bad_avro"),
        (encode({**RECORD, "timestamp": "not a time"}), "bad_timestamp"),
        (encode({**RECORD, "clicks": -1}), "negative_value"),
        (encode({**RECORD, "views": -2}), "negative_value"),
        (encode({**RECORD, "cost": -0.5}), "negative_value"),
        (encode({**RECORD, "cost": float("nan")}), "non_finite_cost"),
        (encode({**RECORD, "cost": float("inf")}), "non_finite_cost"),
        (encode({**RECORD, "ad_id": ""}), "bad_ad_id"),
    ],
)
def test_should_reject_each_bad_frame_with_its_reason(payload: bytes, reason: str) -> None:
    got = parse(payload)
    assert isinstance(got, Reject)
    assert got.reason == reason


def test_should_name_the_offending_value() -> None:
    assert parse(encode({**RECORD, "clicks": -1})) == Reject("negative_value", "clicks=-1")
    assert parse(_frame(BODY + b"\x01\x02")) == Reject("bad_avro", "2 trailing bytes")


def test_should_resend_about_half_of_the_messages_byte_identical() -> None:
    sent = list(AdEventFactory(seed=3).stream(2000, datetime(2026, 11, 22, 10, 0)))
    repeats = len(sent) - len(set(sent))
    assert 800 < repeats < 1200
    assert all(key == parse(value)[0]["ad_id"].encode() for key, value in sent[:50])  # type: ignore[index]
