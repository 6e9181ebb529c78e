"""`python -m producer`: streams events of one stream (TIDEMARK_PRODUCER_STREAM) into Kafka;
what each stream's producer sends is listed below (producer/streams/).

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
from pathlib import Path
from types import FrameType

from prometheus_client import start_http_server

from producer import orders, recruit
from producer.sender import Sender
from producer.settings import NESTED, TOPIC_VARIABLES, ProducerSettings, load
from producer.stream import Message, StreamProducer
from producer.streams import PRODUCERS, producer_of
from wire.env import settings_help

log = logging.getLogger("tidemark.producer")


class Stop:
    requested = False

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True


def generate(settings: ProducerSettings, stream: StreamProducer, sender: Sender, stop: Stop) -> int:
    rng = random.Random(settings.producer_seed)
    supply = stream.messages(settings)
    mutations = stream.mutation(settings)
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
            sender.send(*next(supply))
            sent += 1
        if mutations is not None and time.monotonic() >= next_mutation:
            mutations[0](rng)
            next_mutation += mutations[1]
        if settings.producer_rate:
            time.sleep(0.02)
    return sent


def replay(messages: Iterator[Message], sender: Sender, stop: Stop) -> int:
    """Sends an export's messages as fast as Kafka takes them, until it ends or a stop."""
    sent = 0
    for message in messages:
        if stop.requested:
            break
        sender.send(*message)
        sent += 1
    return sent


def load_customers(settings: ProducerSettings, path: Path) -> int:
    conn = recruit.connect(settings, database=settings.shop_database)
    try:
        loaded = orders.upsert_customers(conn, orders.customers_from_csv(path))
    finally:
        conn.close()
    print(f"loaded {loaded} customers from {path} into {settings.shop_database}.customers")
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m producer",
        description=__doc__ + "".join(f"\n{name}: {p.about}" for name, p in PRODUCERS.items()),
        epilog=settings_help(ProducerSettings, TOPIC_VARIABLES, NESTED),
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
    stream = producer_of(settings)
    export = Path(settings.producer_replay_file) if settings.producer_replay_file else None
    if export is not None and stream.replay is None:
        sys.exit(f"TIDEMARK_PRODUCER_REPLAY_FILE: stream {settings.producer_stream!r} replays no export")
    if export is not None and not export.is_file():
        sys.exit(f"TIDEMARK_PRODUCER_REPLAY_FILE: no such file {settings.producer_replay_file!r}")
    if settings.producer_metrics_port:
        start_http_server(settings.producer_metrics_port)
    stream.prepare(settings)
    stop = Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sender = Sender(settings, stream.topics(settings))
    started = time.monotonic()
    if export is not None and stream.replay is not None:
        sent = replay(stream.replay(settings, export), sender, stop)
    else:
        sent = generate(settings, stream, sender, stop)
    sender.close()
    seconds = time.monotonic() - started
    log.info("sent %d %s in %.1fs (%.0f/s)", sent, stream.noun, seconds, sent / seconds if seconds else 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
