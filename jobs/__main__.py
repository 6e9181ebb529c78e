"""`python -m jobs <name>`: runs one tidemark job and pushes its run metrics.

migrate     idempotent DDL for Cassandra and MySQL
ingest      Kafka topics into Cassandra raw tables, marking dirty buckets
aggregate   dirty buckets into exact hourly rows in MySQL
dims        Debezium change events of recruit.job into analytics.job_dim
backfill    --stream S --from T --to T: mark a time range dirty
"""

from __future__ import annotations

import logging
import sys

from jobs import aggregate, backfill, dims, ingest, migrate
from jobs.metrics import RunMetrics
from jobs.settings import JobSettings, load
from jobs.spark import session

SPARK_JOBS = {"ingest": ingest.run, "aggregate": aggregate.run, "dims": dims.run}
JOBS = [*SPARK_JOBS, "migrate", "backfill"]


def run_job(name: str, settings: JobSettings, argv: list[str], metrics: RunMetrics) -> None:
    if name == "migrate":
        migrate.run(settings, metrics)
    elif name == "backfill":
        backfill.run(settings, argv, metrics)
    else:
        SPARK_JOBS[name](settings, session(settings, name), metrics)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in JOBS:
        print(__doc__, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    name = argv[0]
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
