"""`python -m jobs backfill --stream tracking --from T --to T`: marks every bucket of a
time range dirty, so the next `aggregate` re-applies today's logic to that history."""

from __future__ import annotations

import argparse
from datetime import datetime

from jobs.buckets import buckets_between
from jobs.metrics import RunMetrics
from jobs.schema import TRACKING, TRACKING_BUCKET_SECONDS
from jobs.settings import JobSettings
from jobs.stores import mark_dirty

BUCKET_SECONDS = {TRACKING: TRACKING_BUCKET_SECONDS}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m jobs backfill", description=__doc__)
    parser.add_argument("--stream", required=True, choices=sorted(BUCKET_SECONDS))
    parser.add_argument(
        "--from",
        dest="start",
        required=True,
        type=datetime.fromisoformat,
        help="ISO time, UTC unless it carries an offset",
    )
    parser.add_argument("--to", dest="end", required=True, type=datetime.fromisoformat)
    args = parser.parse_args(argv)
    if args.end <= args.start:
        parser.error("--to must be after --from")
    return args


def run(settings: JobSettings, argv: list[str], metrics: RunMetrics) -> None:
    args = parse_args(argv)
    buckets = buckets_between(args.start, args.end, BUCKET_SECONDS[args.stream])
    metrics.buckets_recomputed = mark_dirty(settings, args.stream, buckets)
