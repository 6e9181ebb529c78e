"""`python -m producer`: streams events of one stream (TIDEMARK_PRODUCER_STREAM) into Kafka.

tracking: generates beacons at TIDEMARK_PRODUCER_RATE (or replays TIDEMARK_PRODUCER_REPLAY_FILE
as fast as Kafka takes it), and optionally seeds the recruit tables and moves a job to another
company now and then for CDC.
ads: Confluent-framed Avro AdEvents at TIDEMARK_PRODUCER_RATE, about half re-sent
byte-identical; registers the schema when TIDEMARK_SCHEMA_REGISTRY_URL is set.
Both serve /metrics on TIDEMARK_PRODUCER_METRICS_PORT.
"""

from __future__ import annotations

import logging
import random
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType

from prometheus_client import start_http_server

from producer import recruit
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
        seed=settings.producer_seed,
        ads=settings.producer_ads,
        backdate_max_seconds=settings.producer_ads_backdate_max_seconds,
        duplicate_rate=settings.producer_ads_duplicate_rate,
        schema_id=schema_id,
    )


def generate(settings: ProducerSettings, sender: Sender, stop: Stop) -> int:
    catalog = synthetic_catalog(settings.producer_jobs, settings.producer_publishers, settings.producer_seed)
    beacons = BeaconFactory(catalog, mix_of(settings), settings.producer_seed)
    ads = ad_factory(settings) if settings.producer_stream == "ads" else None
    rng = random.Random(settings.producer_seed)
    mutating = settings.producer_mutate_jobs_every_seconds and ads is None
    conn = recruit.connect(settings) if mutating else None
    started = time.monotonic()
    next_mutation = started + settings.producer_mutate_jobs_every_seconds
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
        now = datetime.now(timezone.utc)
        while sent < due:
            if ads is not None:
                sender.send_bytes(*ads.next(now))
            else:
                sender.send(beacons.next(now))
            sent += 1
        if conn is not None and time.monotonic() >= next_mutation:
            job_id, company_id = recruit.move_job(conn, rng)
            log.info("moved job %d to company %d", job_id, company_id)
            next_mutation += settings.producer_mutate_jobs_every_seconds
        if settings.producer_rate:
            time.sleep(0.02)
    if conn is not None:
        conn.close()
    return sent


def replay(settings: ProducerSettings, sender: Sender, stop: Stop) -> int:
    sent = 0
    for beacon in read_export(Path(settings.producer_replay_file)):
        if stop.requested:
            break
        sender.send(beacon)
        sent += 1
    return sent


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load()
    if settings.producer_replay_file and not Path(settings.producer_replay_file).is_file():
        sys.exit(f"TIDEMARK_PRODUCER_REPLAY_FILE: no such file {settings.producer_replay_file!r}")
    if settings.producer_metrics_port:
        start_http_server(settings.producer_metrics_port)
    if settings.producer_seed_recruit:
        catalog = synthetic_catalog(settings.producer_jobs, settings.producer_publishers, settings.producer_seed)
        rows = recruit.catalog_rows(catalog)
        if settings.producer_recruit_csv_dir:
            rows.update(recruit.csv_rows(Path(settings.producer_recruit_csv_dir)))
        conn = recruit.connect(settings)
        log.info("seeded recruit tables: %s", recruit.seed(conn, rows))
        conn.close()
    stop = Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sender = Sender(settings)
    started = time.monotonic()
    sent = replay(settings, sender, stop) if settings.producer_replay_file else generate(settings, sender, stop)
    sender.close()
    seconds = time.monotonic() - started
    what = "ad events" if settings.producer_stream == "ads" else "beacons"
    log.info("sent %d %s in %.1fs (%.0f/s)", sent, what, seconds, sent / seconds if seconds else 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
