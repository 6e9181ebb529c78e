"""`python -m jobs backfill --stream NAME --from T --to T`: marks every bucket of a time range
dirty, so the next `aggregate` re-applies today's logic (or today's report time zone) to that
history. Marks are written in bounded, committed statements: a year is fine.

Buckets that start before the stream's raw retention (`TIDEMARK_<STREAM>_RETENTION_DAYS`) are
not marked, and the run names them: their raw rows may have expired, and a recompute from
what is left would empty or shrink aggregates that are right."""

from __future__ import annotations

import argparse
import logging
from datetime import datetime, timedelta, timezone

from jobs.buckets import floor_to_bucket, iter_buckets
from jobs.metrics import RunMetrics
from jobs.settings import JobSettings
from jobs.stores import mark_dirty
from jobs.streams import NAMES, STREAMS, parts, retention_days

log = logging.getLogger("tidemark.backfill")


def instant(text: str) -> datetime:
    """An ISO time; UTC unless it carries an offset."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def arguments() -> argparse.ArgumentParser:
    """The job's arguments, shared with `python -m jobs`'s own parser."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--stream", required=True, choices=NAMES)
    parser.add_argument("--from", dest="start", required=True, type=instant, help="ISO time, UTC unless offset")
    parser.add_argument("--to", dest="end", required=True, type=instant, help="ISO time, UTC unless offset")
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m jobs backfill", description=__doc__, parents=[arguments()])
    args = parser.parse_args(argv)
    if args.end <= args.start:
        parser.error("--to must be after --from")
    return args


def within_retention(start: datetime, horizon: datetime | None, bucket_seconds: int) -> datetime:
    """Where a backfill from `start` may begin: the first bucket that starts at or after the
    retention `horizon` (None: raw is kept forever)."""
    if horizon is None or start >= horizon:
        return start
    first = floor_to_bucket(horizon, bucket_seconds).replace(tzinfo=timezone.utc)
    return first if first >= horizon else first + timedelta(seconds=bucket_seconds)


def run(settings: JobSettings, argv: list[str], metrics: RunMetrics) -> None:
    args = parse_args(argv)
    now = datetime.now(timezone.utc)
    for name in parts([args.stream]):
        days = retention_days(settings, name)
        horizon = now - timedelta(days=days) if days else None
        start = within_retention(args.start, horizon, STREAMS[name].bucket_seconds)
        if start > args.start:
            log.warning(
                "%s: buckets from %s to %s are older than the raw retention (%d days): not marked, "
                "their aggregates stay as they are",
                name,
                args.start.isoformat(),
                min(start, args.end).isoformat(),
                days,
            )
        if start < args.end:
            metrics.buckets_recomputed += mark_dirty(
                settings, name, iter_buckets(start, args.end, STREAMS[name].bucket_seconds)
            )
