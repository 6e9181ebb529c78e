"""The chaos run's load: every stream's producer (producer/streams/) at its rate through one
idempotent producer, and the settings that give the run topics, a keyspace and databases of its own."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from producer.settings import ProducerSettings
from producer.stream import Message
from producer.streams import PRODUCERS
from wire.env import ENV_PREFIX

# Every stream a producer of tidemark's sends; chaos runs each of them.
STREAMS = tuple(PRODUCERS)


def environment(name: str) -> dict[str, str]:
    """The jobs' settings for this run: its own topics, keyspace, databases and checkpoints."""
    from local import stack, topics

    return {
        **os.environ,
        **stack.tidemark_env(),
        **topics.run_topics(name),
        "TIDEMARK_CDC_JOB_TOPIC": f"{name}.{name}_recruit.job",
        "TIDEMARK_CASSANDRA_KEYSPACE": name,
        "TIDEMARK_MYSQL_DATABASE": name,
        "TIDEMARK_RECRUIT_DATABASE": f"{name}_recruit",
        "TIDEMARK_SHOP_DATABASE": f"{name}_shop",
        "TIDEMARK_CHECKPOINT_DIR": str(stack.STACK / "chaos" / name),
        "TIDEMARK_PUSHGATEWAY": "",
        "TIDEMARK_SCHEMA_REGISTRY_URL": stack.REGISTRY_URL,
        **{f"TIDEMARK_{s.upper()}_ENABLED": "true" for s in STREAMS},
    }


def producer_settings(env: Mapping[str, str], **more: Any) -> ProducerSettings:
    """The producers' settings under the run's environment `env` (its topics, databases,
    registry), with `more` on top (seed, catalog size, customers)."""
    given = {k[len(ENV_PREFIX) :].lower(): v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    return ProducerSettings(**{**given, **more})


def stream_topics(settings: ProducerSettings) -> dict[str, dict[str, str]]:
    """Each stream's topic per part ("" = its one topic), as its producer sends them."""
    return {stream: PRODUCERS[stream].topics(settings) for stream in STREAMS}


class Producers:
    """Every stream's messages at its rate (messages/s), in one thread, through one idempotent
    acks=all producer. `acked[stream]` holds (part, key, value) of each acknowledged send,
    re-sends included."""

    def __init__(self, env: Mapping[str, str], settings: ProducerSettings, rates: Mapping[str, float]) -> None:
        self.env = env
        self.rates = rates
        self.topics = stream_topics(settings)
        self.messages: dict[str, Iterator[Message]] = {s: PRODUCERS[s].messages(settings) for s in STREAMS}
        self.acked: dict[str, list[tuple[str, bytes | None, bytes]]] = {s: [] for s in STREAMS}
        self.error: BaseException | None = None
        self.generated = dict.fromkeys(STREAMS, 0)
        self.refused = 0
        self.replayed = 0
        self.failed: deque[tuple[str, str, bytes | None, bytes]] = deque()
        self.in_flight = 0
        self.stop = threading.Event()
        self.replay_request = 0
        self.lock = threading.Lock()
        self.producer = self._producer()
        self.thread = threading.Thread(target=self._run, name="producers", daemon=True)

    def _producer(self) -> Any:
        from confluent_kafka import Producer

        from local import kafka_users

        return Producer(
            {
                **kafka_users.librdkafka(self.env["TIDEMARK_KAFKA_BOOTSTRAP"], kafka_users.PRODUCER),
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 20,
                "message.timeout.ms": 120_000,
                "log_level": 0,
            }
        )

    def _send(self, stream: str, part: str, key: bytes | None, value: bytes) -> None:
        def delivered(error: Any, _message: Any) -> None:
            self.in_flight -= 1
            if error is not None:
                self.refused += 1
                self.failed.append((stream, part, key, value))
                if error.fatal():
                    self.fatal = True
            else:
                self.acked[stream].append((part, key, value))

        while True:
            try:
                self.producer.produce(self.topics[stream][part], value, key, on_delivery=delivered)
                self.in_flight += 1
                return
            except BufferError:
                self.producer.poll(0.1)

    fatal = False

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as e:
            self.error = e
            raise

    def _loop(self) -> None:
        started = time.monotonic()
        while not self.stop.is_set():
            elapsed = time.monotonic() - started
            for stream in STREAMS:
                due = int(elapsed * self.rates[stream])
                while self.generated[stream] < due:
                    key, value, part = next(self.messages[stream])
                    self._send(stream, part, key, value)
                    self.generated[stream] += 1
            self._service()
            time.sleep(0.05)
        self._drain()

    def _service(self) -> None:
        """Delivery reports, re-sends of what Kafka refused, and requested replays."""
        self.producer.poll(0)
        if self.fatal:  # an idempotent producer whose state the broker lost: start a new one
            self.producer.flush(10)
            self.producer = self._producer()
            self.fatal = False
        while self.failed:
            self._send(*self.failed.popleft())
        with self.lock:
            count, self.replay_request = self.replay_request, 0
        if count:
            for stream in STREAMS:
                for part, key, value in self.acked[stream][-count:]:
                    self._send(stream, part, key, value)
                    self.replayed += 1

    def _drain(self) -> None:
        deadline = time.monotonic() + 300
        while (self.in_flight or self.failed) and time.monotonic() < deadline:
            self.producer.flush(1)
            self._service()
        if self.in_flight or self.failed:
            raise RuntimeError(f"producers: {self.in_flight + len(self.failed)} messages never acknowledged")

    def replay(self, count: int) -> None:
        """Send the last `count` acknowledged messages of every stream again."""
        with self.lock:
            self.replay_request = count

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join()
