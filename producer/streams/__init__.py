"""The producer of every stream, one module each, listed explicitly (no discovery by import)."""

from __future__ import annotations

from producer.settings import ProducerSettings
from producer.stream import StreamProducer
from producer.streams import ads, orders, tracking, userlogs
from wire.env import ENV_PREFIX

PRODUCERS: dict[str, StreamProducer] = {
    "tracking": tracking.PRODUCER,
    "ads": ads.PRODUCER,
    "orders": orders.PRODUCER,
    "userlogs": userlogs.PRODUCER,
}


def producer_of(settings: ProducerSettings) -> StreamProducer:
    """The producer TIDEMARK_PRODUCER_STREAM names; an unknown name stops the process naming it."""
    if settings.producer_stream not in PRODUCERS:
        raise SystemExit(
            f"{ENV_PREFIX}PRODUCER_STREAM: unknown stream {settings.producer_stream!r} (known: {', '.join(PRODUCERS)})"
        )
    return PRODUCERS[settings.producer_stream]
