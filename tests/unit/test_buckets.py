from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from jobs.backfill import within_retention
from jobs.buckets import buckets_between, floor_to_bucket, report_hour


def test_should_floor_to_the_bucket_start_in_utc() -> None:
    moment = datetime(2026, 3, 1, 12, 34, 56, 789, tzinfo=timezone(timedelta(hours=7)))
    assert floor_to_bucket(moment, 60) == datetime(2026, 3, 1, 5, 34)
    assert floor_to_bucket(moment, 30) == datetime(2026, 3, 1, 5, 34, 30)


def test_should_list_every_bucket_overlapping_the_range() -> None:
    start = datetime(2026, 3, 1, 0, 0, 30, tzinfo=timezone.utc)
    got = buckets_between(start, start + timedelta(minutes=2), 60)
    assert got == [datetime(2026, 3, 1, 0, 0), datetime(2026, 3, 1, 0, 1), datetime(2026, 3, 1, 0, 2)]


def test_should_place_a_bucket_in_its_report_hour_across_a_half_hour_offset() -> None:
    assert report_hour(datetime(2026, 3, 1, 18, 29), "Asia/Kolkata") == (date(2026, 3, 1), 23)
    assert report_hour(datetime(2026, 3, 1, 18, 30), "Asia/Kolkata") == (date(2026, 3, 2), 0)


@pytest.mark.parametrize(
    ("start", "horizon", "bucket_seconds", "want"),
    [
        # Kept forever: any start.
        (datetime(2020, 1, 1, tzinfo=timezone.utc), None, 60, datetime(2020, 1, 1, tzinfo=timezone.utc)),
        # Inside the retention: as asked.
        (
            datetime(2026, 12, 4, 10, tzinfo=timezone.utc),
            datetime(2026, 12, 1, 9, 30, 15, tzinfo=timezone.utc),
            60,
            datetime(2026, 12, 4, 10, tzinfo=timezone.utc),
        ),
        # Before it: the first whole bucket after the horizon (its predecessor lost rows already).
        (
            datetime(2026, 11, 1, tzinfo=timezone.utc),
            datetime(2026, 12, 1, 9, 30, 15, tzinfo=timezone.utc),
            60,
            datetime(2026, 12, 1, 9, 31, tzinfo=timezone.utc),
        ),
        (
            datetime(2026, 11, 1, tzinfo=timezone.utc),
            datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc),
            30,
            datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc),
        ),
    ],
)
def test_should_start_a_backfill_at_the_first_bucket_inside_the_raw_retention(
    start: datetime, horizon: datetime | None, bucket_seconds: int, want: datetime
) -> None:
    assert within_retention(start, horizon, bucket_seconds) == want
