"""Sends events to Kafka without loss (acks=all, idempotence) and counts what it did.

librdkafka (confluent-kafka) rather than a pure-Python client: sending costs a few
microseconds an event, so the producer's own generation is what bounds its rate.
"""

from __future__ import annotations

from confluent_kafka import KafkaError, Message, Producer
from prometheus_client import Counter, Histogram

from producer.settings import ProducerSettings
from wire.kafka_auth import librdkafka_options

EVENTS_SENT = Counter("tidemark_producer_events_sent", "Events acknowledged by Kafka", ["stream"])
SEND_ERRORS = Counter("tidemark_producer_send_errors", "Events Kafka did not acknowledge", ["stream"])
SEND_LATENCY = Histogram(
    "tidemark_producer_send_latency_seconds",
    "From send() to Kafka's acknowledgement, for one event in LATENCY_SAMPLE",
    ["stream"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
# Latency is a distribution: one acknowledgement in 64 describes it as well as all of them.
LATENCY_SAMPLE = 64


class Sender:
    def __init__(self, settings: ProducerSettings, topics: dict[str, str]) -> None:
        """`topics`: each part's topic ("" = the stream's one), as the stream's producer names them."""
        self.stream = settings.producer_stream
        self.topics = topics
        self.failed = 0
        self.first_error: KafkaError | None = None
        self.acked = 0
        self.producer = Producer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                **librdkafka_options(settings),
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": settings.producer_linger_ms,
                "batch.size": settings.producer_batch_bytes,
                "compression.type": settings.producer_compression,
                # librdkafka logs a broker's transient "coordinator loading" retries at WARN.
                "log_level": 3,
            }
        )
        self._sent = EVENTS_SENT.labels(self.stream)
        self._errors = SEND_ERRORS.labels(self.stream)
        self._latency = SEND_LATENCY.labels(self.stream)

    def send(self, key: bytes | None, value: bytes, part: str = "") -> None:
        topic = self.topics[part]
        while True:
            try:
                self.producer.produce(topic, value, key, on_delivery=self._delivered)
                break
            except BufferError:
                # The local queue is full: wait for Kafka to take some, then send again.
                self.producer.poll(0.05)
        # Serves the delivery reports that arrived meanwhile; returns at once.
        self.producer.poll(0)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._errors.inc()
            self.failed += 1
            self.first_error = self.first_error or error
            return
        self._sent.inc()
        self.acked += 1
        if self.acked % LATENCY_SAMPLE == 0:
            latency = message.latency()
            if latency is not None:
                self._latency.observe(latency)

    def close(self) -> None:
        """Flushes everything in flight; raises if Kafka refused any event."""
        while self.producer.flush(5.0):
            pass
        if self.failed:
            raise RuntimeError(f"{self.failed} events were not acknowledged; first: {self.first_error}")
