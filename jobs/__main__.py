"""`python -m jobs <name>`: runs one tidemark job and pushes its run metrics.

migrate     idempotent DDL for Cassandra and MySQL, every stream's tables
ingest      [--stream NAME ...] Kafka topics into Cassandra raw tables, marking dirty buckets
aggregate   [--stream NAME ...] dirty buckets into exact rows in MySQL, one run per stream at a time
dims        Debezium change events of recruit.job into analytics.job_dim
backfill    --stream NAME --from T --to T: mark a time range dirty

Without --stream, ingest and aggregate drive every enabled stream (TIDEMARK_<STREAM>_ENABLED).
"""

from __future__ import annotations

import argparse
import logging
import sys

from jobs import aggregate, backfill, dims, ingest, migrate
from jobs.metrics import RunMetrics
from jobs.settings import JobSettings, load
from jobs.spark import session
from jobs.streams import STREAMS

JOBS = ["migrate", "ingest", "aggregate", "dims", "backfill"]


def parse_streams(name: str, argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(
        prog=f"python -m jobs {name}", description=(ingest if name == "ingest" else aggregate).__doc__
    )
    parser.add_argument(
        "--stream",
        action="append",
        default=[],
        choices=sorted(STREAMS),
        help="a stream to run (repeatable); default: every enabled stream",
    )
    streams: list[str] = parser.parse_args(argv).stream
    return streams


def run_job(name: str, settings: JobSettings, argv: list[str], metrics: RunMetrics) -> None:
    if name == "migrate":
        migrate.run(settings, metrics)
    elif name == "backfill":
        backfill.run(settings, argv, metrics)
    elif name == "dims":
        dims.run(settings, session(settings, name), metrics)
    elif name == "ingest":
        ingest.run(settings, session(settings, name), metrics, parse_streams(name, argv))
    else:
        aggregate.run(settings, session(settings, name), metrics, parse_streams(name, argv))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in JOBS:
        print(__doc__, file=sys.stderr)
        return 2
    name = argv[0]
    # Arguments are checked before anything starts, so a typo costs no Spark start-up.
    if name in ("ingest", "aggregate"):
        parse_streams(name, argv[1:])
    elif name == "backfill":
        backfill.parse_args(argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load()
    metrics = RunMetrics(job=name)
    log = logging.getLogger(f"tidemark.{name}")
    try:
        run_job(name, settings, argv[1:], metrics)
    except Exception:
        log.exception("%s failed", name)
        metrics.push(settings.pushgateway, ok=False)
        return 1
    metrics.push(settings.pushgateway, ok=True)
    log.info("%s done: %s", name, metrics.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
