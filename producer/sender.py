"""Sends beacons to Kafka without loss (acks=all, idempotence) and counts what it did."""

from __future__ import annotations

import time
from typing import Any

import orjson
from kafka import KafkaProducer
from prometheus_client import Counter, Histogram

from producer.settings import ProducerSettings

EVENTS_SENT = Counter("tidemark_producer_events_sent", "Events acknowledged by Kafka", ["stream"])
SEND_ERRORS = Counter("tidemark_producer_send_errors", "Events Kafka did not acknowledge", ["stream"])
SEND_LATENCY = Histogram(
    "tidemark_producer_send_latency_seconds",
    "From send() to Kafka's acknowledgement",
    ["stream"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class Sender:
    def __init__(self, settings: ProducerSettings) -> None:
        self.stream = settings.producer_stream
        self.topic = {
            "tracking": settings.tracking_topic,
            "ads": settings.ads_topic,
            "orders": settings.orders_topic,
            "userlogs": settings.userlogs_session_topic,
        }[self.stream]
        # A stream with several topics names the one of each message by its part.
        self.part_topics = {
            "session": settings.userlogs_session_topic,
            "auth": settings.userlogs_auth_topic,
            "activity": settings.userlogs_activity_topic,
        }
        stream = self.stream
        self.errors: list[BaseException] = []
        compression = None if settings.producer_compression == "none" else settings.producer_compression
        self.producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            acks="all",
            enable_idempotence=True,
            linger_ms=settings.producer_linger_ms,
            batch_size=settings.producer_batch_bytes,
            compression_type=compression,
            retries=2_147_483_647,
        )
        self._sent = EVENTS_SENT.labels(stream)
        self._errors = SEND_ERRORS.labels(stream)
        self._latency = SEND_LATENCY.labels(stream)

    def send_bytes(self, key: bytes | None, value: bytes, part: str | None = None) -> None:
        started = time.perf_counter()
        topic = self.part_topics[part] if part else self.topic
        future = self.producer.send(topic, key=key, value=value)
        future.add_callback(lambda _meta: self._acked(started))
        future.add_errback(self._failed)

    def send(self, beacon: dict[str, Any]) -> None:
        # Keyed by event id: a re-sent beacon lands on the same partition as the original.
        key = str(beacon.get("create_time") or "").encode() or None
        self.send_bytes(key, orjson.dumps(beacon))

    def _acked(self, started: float) -> None:
        self._sent.inc()
        self._latency.observe(time.perf_counter() - started)

    def _failed(self, error: BaseException) -> None:
        self._errors.inc()
        self.errors.append(error)

    def close(self) -> None:
        """Flushes everything in flight; raises if Kafka refused any beacon."""
        self.producer.flush()
        self.producer.close()
        if self.errors:
            raise RuntimeError(f"{len(self.errors)} beacons were not acknowledged; first: {self.errors[0]!r}")
