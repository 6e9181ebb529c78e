"""Time buckets: where an event time falls, and which report hour a bucket belongs to.

Report hours come from Python's zoneinfo alone, here: the jobs never ask the JVM's zone rules
(a second time-zone database that may disagree after a rule change), and the setting is
checked against the same database (jobs/settings.py). On a daylight-saving change the hour
the clocks skip has no rows, and the hour they repeat holds both hours' events (the report
is keyed by local date and hour)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
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


def report_hours(buckets: list[datetime], report_timezone: str) -> list[tuple[datetime, date, int, datetime]]:
    """Each bucket with its report date, hour and the hour's local start (naive)."""
    hours = []
    for bucket in buckets:
        day, hour = report_hour(bucket, report_timezone)
        hours.append((bucket, day, hour, datetime.combine(day, time(hour))))
    return hours
