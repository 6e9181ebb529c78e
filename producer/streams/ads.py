"""The ads producer: Confluent-framed Avro AdEvents, about half re-sent byte-identical;
registers the schema when TIDEMARK_SCHEMA_REGISTRY_URL is set."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timezone

from producer.ads import BUILT_IN_SCHEMA_ID, AdEventFactory, register_schema
from producer.settings import ProducerSettings
from producer.stream import Message, StreamProducer, events_seed

log = logging.getLogger("tidemark.producer")


def factory(settings: ProducerSettings) -> AdEventFactory:
    schema_id = BUILT_IN_SCHEMA_ID
    if settings.schema_registry_url:
        schema_id = register_schema(settings.schema_registry_url, f"{settings.topics['ads']}-value")
        log.info("AdEvent is schema id %d in %s", schema_id, settings.schema_registry_url)
    return AdEventFactory(
        seed=events_seed(settings),
        ads=settings.producer_ads,
        backdate_max_seconds=settings.producer_ads_backdate_max_seconds,
        duplicate_rate=settings.producer_ads_duplicate_rate,
        schema_id=schema_id,
    )


def messages(settings: ProducerSettings) -> Iterator[Message]:
    ads = factory(settings)
    while True:
        key, value = ads.next(datetime.now(timezone.utc))
        yield key, value, ""


PRODUCER = StreamProducer(
    about=__doc__ or "", noun="ad events", topics=lambda settings: {"": settings.topics["ads"]}, messages=messages
)
