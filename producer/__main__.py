"""`python -m producer`: streams events of one stream (TIDEMARK_PRODUCER_STREAM) into Kafka.

tracking  beacons at TIDEMARK_PRODUCER_RATE (or TIDEMARK_PRODUCER_REPLAY_FILE, an export of a
          tracking table, as fast as Kafka takes it); optionally seeds the recruit tables and
          moves a job to another company now and then for CDC.
ads       Confluent-framed Avro AdEvents, about half re-sent byte-identical; registers the
          schema when TIDEMARK_SCHEMA_REGISTRY_URL is set.
userlogs  per loop a session, an auth event and an array of 1-30 activity events, JSON on
          three topics (TIDEMARK_USERLOGS_{SESSION,AUTH,ACTIVITY}_TOPIC).
orders    JSON orders as pandas writes them (or TIDEMARK_PRODUCER_REPLAY_FILE, an orders CSV);
          upserts TIDEMARK_PRODUCER_CUSTOMERS synthetic customers into shop.customers first.

`python -m producer load-customers FILE.csv` upserts customers from a CSV with the sample
export's header (ID,Name,Address,Birth Date,City,Created At,Email,Latitude,Longitude,
Password,Source,State,Zip; the password is never stored), prints how many, and exits.
Every producer serves /metrics on TIDEMARK_PRODUCER_METRICS_PORT.
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

from prometheus_client import start_http_server

from jobs.settings import settings_help
from producer import orders, recruit, userlogs
from producer.ads import BUILT_IN_SCHEMA_ID, AdEventFactory, register_schema
from producer.beacons import BeaconFactory, Mix
from producer.catalog import synthetic_catalog
from producer.replay import read_export
from producer.sender import Sender
from producer.settings import ProducerSettings, load

log = logging.getLogger("tidemark.producer")


class Stop:
    requested = False

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True


def events_seed(settings: ProducerSettings) -> int:
    """The event generators' seed: TIDEMARK_PRODUCER_SEED when it is set (a reproducible run),
    else one per start, so a restarted producer (a rolled Pod) never sends an earlier start's
    session or event ids again with other contents. The catalog and the customers keep the
    configured seed: they are the same rows at every start."""
    if "producer_seed" in settings.model_fields_set:
        return settings.producer_seed
    return time.time_ns() % 2**32


def mix_of(settings: ProducerSettings) -> Mix:
    return Mix(
        late_rate=settings.producer_late_rate,
        late_max_hours=settings.producer_late_max_hours,
        duplicate_rate=settings.producer_duplicate_rate,
        null_bid_rate=settings.producer_null_bid_rate,
        ed_only_rate=settings.producer_ed_only_rate,
        unattributed_rate=settings.producer_unattributed_rate,
        other_track_rate=settings.producer_other_track_rate,
    )


def ad_factory(settings: ProducerSettings) -> AdEventFactory:
    schema_id = BUILT_IN_SCHEMA_ID
    if settings.schema_registry_url:
        schema_id = register_schema(settings.schema_registry_url, f"{settings.ads_topic}-value")
        log.info("AdEvent is schema id %d in %s", schema_id, settings.schema_registry_url)
    return AdEventFactory(
        seed=events_seed(settings),
        ads=settings.producer_ads,
        backdate_max_seconds=settings.producer_ads_backdate_max_seconds,
        duplicate_rate=settings.producer_ads_duplicate_rate,
        schema_id=schema_id,
    )


def shop_connection(settings: ProducerSettings) -> Any:
    return recruit.connect(settings, database=settings.shop_database)


Message = tuple[bytes | None, bytes] | tuple[bytes | None, bytes, str] | dict[str, Any]


def messages(settings: ProducerSettings) -> Iterator[Message]:
    """The stream's endless supply: (key, value[, part]), or beacons for the tracking sender."""
    if settings.producer_stream == "userlogs":
        logs = userlogs.UserLogFactory(seed=events_seed(settings))
        while True:
            for part, value in logs.loop(datetime.now(timezone.utc)):
                yield None, value, part
    elif settings.producer_stream == "ads":
        factory = ad_factory(settings)
        while True:
            yield factory.next(datetime.now(timezone.utc))
    elif settings.producer_stream == "orders":
        # Order IDs go on from the start's clock, not from 1: a restarted producer (a rolled
        # Pod) must not send earlier IDs again with other contents, as a shop never would.
        order_factory = orders.OrderFactory(
            customers=max(settings.producer_customers, 1), seed=events_seed(settings), next_id=time.time_ns() // 1000
        )
        while True:
            yield None, order_factory.next(datetime.now(timezone.utc))
    else:
        catalog = synthetic_catalog(settings.producer_jobs, settings.producer_publishers, settings.producer_seed)
        beacons = BeaconFactory(catalog, mix_of(settings), events_seed(settings))
        while True:
            yield beacons.next(datetime.now(timezone.utc))


def send(sender: Sender, message: Message) -> None:
    if isinstance(message, dict):
        sender.send(message)
    else:
        sender.send_bytes(*message)


def generate(settings: ProducerSettings, sender: Sender, stop: Stop) -> int:
    rng = random.Random(settings.producer_seed)
    supply = messages(settings)
    mutations = mutation_of(settings)
    started = time.monotonic()
    next_mutation = started + (mutations[1] if mutations else 0)
    sent = 0
    while not stop.requested:
        elapsed = time.monotonic() - started
        if settings.producer_duration_seconds and elapsed >= settings.producer_duration_seconds:
            break
        if settings.producer_max_events and sent >= settings.producer_max_events:
            break
        # Send what the rate allows by now, in small slices so the rate stays even.
        due = int(elapsed * settings.producer_rate) if settings.producer_rate else sent + 1000
        if settings.producer_max_events:
            due = min(due, settings.producer_max_events)
        while sent < due:
            send(sender, next(supply))
            sent += 1
        if mutations is not None and time.monotonic() >= next_mutation:
            mutations[0](rng)
            next_mutation += mutations[1]
        if settings.producer_rate:
            time.sleep(0.02)
    return sent


def mutation_of(settings: ProducerSettings) -> tuple[Any, float] | None:
    """What the producer changes now and then in the operational tables, and how often."""
    if settings.producer_stream == "tracking" and settings.producer_mutate_jobs_every_seconds:
        conn = recruit.connect(settings)

        def move_job(rng: random.Random) -> None:
            job_id, company_id = recruit.move_job(conn, rng)
            log.info("moved job %d to company %d", job_id, company_id)

        return move_job, settings.producer_mutate_jobs_every_seconds
    if settings.producer_stream == "orders" and settings.producer_move_customer_every_seconds:
        shop = shop_connection(settings)

        def move_customer(rng: random.Random) -> None:
            customer_id, state = orders.move_customer(shop, rng)
            log.info("moved customer %d to %s", customer_id, state)

        return move_customer, settings.producer_move_customer_every_seconds
    return None


def replay(settings: ProducerSettings, sender: Sender, stop: Stop) -> int:
    path = Path(settings.producer_replay_file)
    sent = 0
    rows: Iterator[Any] = orders.orders_from_csv(path) if settings.producer_stream == "orders" else read_export(path)
    for row in rows:
        if stop.requested:
            break
        send(sender, (None, orders.encode(row)) if settings.producer_stream == "orders" else row)
        sent += 1
    return sent


def load_customers(settings: ProducerSettings, path: Path) -> int:
    conn = shop_connection(settings)
    try:
        loaded = orders.upsert_customers(conn, orders.customers_from_csv(path))
    finally:
        conn.close()
    print(f"loaded {loaded} customers from {path} into {settings.shop_database}.customers")
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m producer",
        description=__doc__,
        epilog=settings_help(ProducerSettings),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command")
    load_parser = commands.add_parser("load-customers", help="upsert customers from a CSV into shop.customers")
    load_parser.add_argument("file", type=Path, help="CSV with the sample export's header")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load()
    if args.command == "load-customers":
        if not args.file.is_file():
            sys.exit(f"load-customers: no such file {str(args.file)!r}")
        return load_customers(settings, args.file)
    if settings.producer_replay_file and not Path(settings.producer_replay_file).is_file():
        sys.exit(f"TIDEMARK_PRODUCER_REPLAY_FILE: no such file {settings.producer_replay_file!r}")
    if settings.producer_metrics_port:
        start_http_server(settings.producer_metrics_port)
    if settings.producer_stream == "tracking" and settings.producer_seed_recruit:
        catalog = synthetic_catalog(settings.producer_jobs, settings.producer_publishers, settings.producer_seed)
        rows = recruit.catalog_rows(catalog)
        if settings.producer_recruit_csv_dir:
            rows.update(recruit.csv_rows(Path(settings.producer_recruit_csv_dir)))
        conn = recruit.connect(settings)
        log.info("seeded recruit tables: %s", recruit.seed(conn, rows))
        conn.close()
    if settings.producer_stream == "orders" and settings.producer_customers:
        conn = shop_connection(settings)
        customers = orders.synthetic_customers(settings.producer_customers, settings.producer_seed)
        log.info("upserted %d synthetic customers", orders.upsert_customers(conn, customers))
        conn.close()
    stop = Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sender = Sender(settings)
    started = time.monotonic()
    sent = replay(settings, sender, stop) if settings.producer_replay_file else generate(settings, sender, stop)
    sender.close()
    seconds = time.monotonic() - started
    what = {"tracking": "beacons", "ads": "ad events", "orders": "orders", "userlogs": "user log messages"}[
        settings.producer_stream
    ]
    log.info("sent %d %s in %.1fs (%.0f/s)", sent, what, seconds, sent / seconds if seconds else 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
