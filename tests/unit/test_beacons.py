from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from oracles.tracking import event_time
from producer.beacons import BeaconFactory, Mix, timeuuid_at
from producer.catalog import synthetic_catalog
from producer.replay import beacon_from_row


def test_should_encode_the_event_time_in_a_version_1_uuid() -> None:
    import random

    moment = datetime(2026, 11, 22, 10, 15, 30, 123456, tzinfo=timezone.utc)
    value = timeuuid_at(moment, random.Random(1))
    assert uuid.UUID(value).version == 1
    assert event_time(value) == moment


def test_should_be_reproducible_for_a_seed() -> None:
    now = datetime(2026, 11, 22, tzinfo=timezone.utc)
    a = list(BeaconFactory(synthetic_catalog(20, 4, 3), Mix(), 3).stream(50, now, timedelta(minutes=1)))
    b = list(BeaconFactory(synthetic_catalog(20, 4, 3), Mix(), 3).stream(50, now, timedelta(minutes=1)))
    assert a == b


def test_should_skew_popularity_towards_a_few_jobs() -> None:
    factory = BeaconFactory(synthetic_catalog(100, 5, 9), Mix(ed_only_rate=0, unattributed_rate=0), 9)
    beacons = list(factory.stream(5000, datetime(2026, 1, 1, tzinfo=timezone.utc)))
    top = sum(1 for b in beacons if b["job_id"] is not None and b["job_id"] <= 10)
    assert top > len(beacons) * 0.4


def test_should_type_an_exported_row_and_pass_bad_values_through() -> None:
    row = {"create_time": "x", "job_id": "12", "bid": "", "custom_track": "", "tz": "oops"}
    beacon = beacon_from_row(row)
    assert beacon["job_id"] == 12
    assert beacon["bid"] is None
    assert beacon["custom_track"] == ""
    assert beacon["tz"] == "oops"  # ingest rejects it with a reason
    assert beacon["uid"] is None
