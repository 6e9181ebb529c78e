"""`python -m jobs backfill --stream NAME --from T --to T`: marks every bucket of a time range
dirty, so the next `aggregate` re-applies today's logic (or today's report time zone) to that
history. Marks are written in bounded, committed statements: a year is fine."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

from jobs.buckets import iter_buckets
from jobs.metrics import RunMetrics
from jobs.settings import JobSettings
from jobs.stores import mark_dirty
from jobs.streams import FAMILIES, NAMES, STREAMS


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


def run(settings: JobSettings, argv: list[str], metrics: RunMetrics) -> None:
    args = parse_args(argv)
    for name in FAMILIES.get(args.stream, [args.stream]):
        buckets = iter_buckets(args.start, args.end, STREAMS[name].bucket_seconds)
        metrics.buckets_recomputed += mark_dirty(settings, name, buckets)
