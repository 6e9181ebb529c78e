"""`python -m jobs <name>`: runs one tidemark job and pushes its run metrics.

migrate     idempotent DDL for Cassandra and MySQL, every stream's tables
ingest      [--stream NAME ...] Kafka topics into Cassandra raw tables, marking dirty buckets
aggregate   [--stream NAME ...] dirty buckets into exact rows in MySQL, one run per stream at a time
dims        Debezium change events of recruit.job into analytics.job_dim
backfill    --stream NAME --from T --to T: mark a time range dirty
replay-rejects --stream NAME [--reason R] [--since T]: classify kept rejects again

Without --stream, ingest and aggregate drive every enabled stream (TIDEMARK_<STREAM>_ENABLED).
`python -m jobs <name> --help` shows one job's arguments and every setting with its default.
"""

from __future__ import annotations

import argparse
import logging
import sys

from jobs import aggregate, backfill, dims, ingest, migrate, replay_rejects, supervision
from jobs.metrics import RunMetrics, forget
from jobs.settings import JobSettings, load, settings_help
from jobs.spark import session
from jobs.streams import NAMES, STREAMS, configured, stream_variables

JOBS = {
    "migrate": migrate.__doc__,
    "ingest": ingest.__doc__,
    "aggregate": aggregate.__doc__,
    "dims": dims.__doc__,
    "backfill": backfill.__doc__,
    "replay-rejects": replay_rejects.__doc__,
}


def parser() -> argparse.ArgumentParser:
    """Every job's arguments; --help prints them with the settings and touches nothing."""
    root = argparse.ArgumentParser(
        prog="python -m jobs",
        description=__doc__,
        epilog=settings_help(JobSettings, stream_variables()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    jobs = root.add_subparsers(dest="job", required=True, metavar="{" + ",".join(JOBS) + "}")
    for name, doc in JOBS.items():
        job = jobs.add_parser(
            name,
            parents=[backfill.arguments()]
            if name == "backfill"
            else [replay_rejects.arguments()]
            if name == "replay-rejects"
            else [],
            description=doc,
            epilog=settings_help(JobSettings, stream_variables()),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name in ("migrate", "ingest", "aggregate"):
            job.add_argument(
                "--stream",
                action="append",
                default=[],
                choices=NAMES,
                help="a stream to run (repeatable); default: every enabled stream (migrate: every stream)",
            )
    return root


def streams_of(args: argparse.Namespace, settings: JobSettings) -> dict[str, tuple[str, ...]]:
    """The streams a run drives, with their topics: each gets its own metrics group."""
    if args.job in ("ingest", "aggregate"):
        specs = configured(settings, args.stream)
    elif args.job in ("backfill", "replay-rejects"):
        specs = configured(settings, [args.stream])
    else:
        return {}
    return {spec.name: spec.topics for spec in specs}


def run_job(args: argparse.Namespace, settings: JobSettings, argv: list[str], metrics: RunMetrics) -> None:
    if args.job == "migrate":
        migrate.run(settings, metrics, args.stream)
        return
    if args.job == "backfill":
        backfill.run(settings, argv, metrics)
        return
    if args.job == "ingest":
        # Before Spark starts (seconds): until this driver beats, probes must not read the last one's.
        supervision.forget_heartbeat(settings)
    spark = session(settings, args.job)
    try:
        if args.job == "dims":
            dims.run(settings, spark, metrics)
        elif args.job == "replay-rejects":
            replay_rejects.run(settings, spark, argv, metrics)
        elif args.job == "ingest":
            ingest.run(settings, spark, metrics, args.stream)
        else:
            # One stream after another, as aggregate.run would: each stream's rows, buckets, time
            # and outcome are its own in the metrics it pushes.
            for name in metrics.streams:
                with metrics.running(name):
                    aggregate.run(settings, spark, metrics, [name])
    finally:
        # On Kubernetes the executors are pods, released only when their driver stops.
        spark.stop()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Arguments are checked before anything starts, so a typo costs no Spark start-up.
    args = parser().parse_args(argv)
    if args.job == "backfill" and args.end <= args.start:
        parser().error("backfill: --to must be after --from")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The MySQL driver logs its authentication plugin, and kafka-python every connection it
    # opens and closes, at INFO: a run's log keeps to its stage lines.
    for chatty in ("mysql.connector", "kafka"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    settings = load()
    streams = streams_of(args, settings)
    metrics = RunMetrics(job=args.job, release=settings.release, streams=streams)
    # A run of every enabled stream knows which streams this release no longer runs.
    every_stream = args.job in ("ingest", "aggregate") and not args.stream
    forget(settings.pushgateway, args.job, settings.release, [s for s in STREAMS if every_stream and s not in streams])
    log = logging.getLogger(f"tidemark.{args.job}")
    try:
        run_job(args, settings, argv[1:], metrics)
    except Exception:
        log.exception("%s failed", args.job)
        metrics.push(settings.pushgateway, ok=False)
        return 1
    metrics.push(settings.pushgateway, ok=True)
    log.info("%s done: %s", args.job, metrics.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
