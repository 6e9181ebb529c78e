"""Time buckets: where an event time falls, and which report hour a bucket belongs to."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo


def floor_to_bucket(moment: datetime, bucket_seconds: int) -> datetime:
    """The start of the bucket holding `moment`, as naive timezone.utc (how the stores keep it)."""
    utc = moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    epoch = int(utc.timestamp())
    return datetime.fromtimestamp(epoch - epoch % bucket_seconds, timezone.utc).replace(tzinfo=None)


def iter_buckets(start: datetime, end: datetime, bucket_seconds: int) -> Iterator[datetime]:
    """Every bucket overlapping [start, end), in order, one at a time (a year is 10^6 of them)."""
    current = floor_to_bucket(start, bucket_seconds)
    last = end.astimezone(timezone.utc).replace(tzinfo=None) if end.tzinfo else end
    step = timedelta(seconds=bucket_seconds)
    while current < last:
        yield current
        current += step


def buckets_between(start: datetime, end: datetime, bucket_seconds: int) -> list[datetime]:
    """Every bucket overlapping [start, end)."""
    return list(iter_buckets(start, end, bucket_seconds))


def report_hour(bucket: datetime, report_timezone: str) -> tuple[date, int]:
    """The (date, hour) of a naive-timezone.utc bucket start in the report time zone."""
    local = bucket.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(report_timezone))
    return local.date(), local.hour
