"""The tracking producer: beacons of a synthetic catalog at TIDEMARK_PRODUCER_RATE, or an
export of a tracking table replayed as fast as Kafka takes it; optionally seeds the recruit
tables and moves a job to another company now and then, for CDC."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from producer import recruit
from producer.beacons import BeaconFactory, Mix
from producer.catalog import synthetic_catalog
from producer.replay import read_export
from producer.settings import ProducerSettings
from producer.stream import Message, Mutation, StreamProducer, events_seed

log = logging.getLogger("tidemark.producer")


def message(beacon: dict[str, Any]) -> Message:
    # Keyed by event id: a re-sent beacon lands on the same partition as the original.
    key = str(beacon.get("create_time") or "").encode() or None
    return key, orjson.dumps(beacon), ""


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


def messages(settings: ProducerSettings) -> Iterator[Message]:
    catalog = synthetic_catalog(settings.producer_jobs, settings.producer_publishers, settings.producer_seed)
    beacons = BeaconFactory(catalog, mix_of(settings), events_seed(settings))
    while True:
        yield message(beacons.next(datetime.now(timezone.utc)))


def seed_recruit(settings: ProducerSettings) -> None:
    if not settings.producer_seed_recruit:
        return
    catalog = synthetic_catalog(settings.producer_jobs, settings.producer_publishers, settings.producer_seed)
    rows = recruit.catalog_rows(catalog)
    if settings.producer_recruit_csv_dir:
        rows.update(recruit.csv_rows(Path(settings.producer_recruit_csv_dir)))
    conn = recruit.connect(settings)
    log.info("seeded recruit tables: %s", recruit.seed(conn, rows))
    conn.close()


def move_jobs(settings: ProducerSettings) -> Mutation | None:
    if not settings.producer_mutate_jobs_every_seconds:
        return None
    conn = recruit.connect(settings)

    def move_job(rng: random.Random) -> None:
        job_id, company_id = recruit.move_job(conn, rng)
        log.info("moved job %d to company %d", job_id, company_id)

    return move_job, settings.producer_mutate_jobs_every_seconds


def replay(_settings: ProducerSettings, path: Path) -> Iterator[Message]:
    return (message(row) for row in read_export(path))


PRODUCER = StreamProducer(
    about=__doc__ or "",
    noun="beacons",
    topics=lambda settings: {"": settings.topics["tracking"]},
    messages=messages,
    prepare=seed_recruit,
    mutation=move_jobs,
    replay=replay,
)
