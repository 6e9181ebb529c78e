"""The local stand-in for the chart's KafkaTopic resources.

The local broker creates no topic on its own, as the chart's does not (auto.create.topics.enable
is false in both), so a component that relies on a topic appearing when first used fails here
as it would on Kubernetes. Stream topics are created here instead: the default ones when the
stack starts, and each test's, bench's or demo's own before it produces. Topics a component
creates itself (Kafka Connect's internal topics, Debezium's change and schema-history topics)
are left to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from jobs.settings import JobSettings
from jobs.streams import FAMILIES, STREAMS, topics_of
from local import kafka_users

PARTITIONS = 3  # as the chart's KafkaTopics default (streams.<name>.partitions)


def ensure(bootstrap: str, topics: Iterable[str], partitions: int = PARTITIONS) -> list[str]:
    """Creates the topics that do not exist yet, and lets the producer write and the jobs read
    each of them (as the chart's KafkaUsers do); returns those it created."""
    topics = list(topics)
    kafka_users.grant(bootstrap, [acl for topic in topics for acl in kafka_users.stream_topic_acls(topic)])
    admin = KafkaAdminClient(**kafka_users.kafka_python(bootstrap), request_timeout_ms=30_000)
    try:
        missing = sorted(set(topics) - set(admin.list_topics()))
        created = []
        for topic in missing:
            try:
                admin.create_topics([NewTopic(topic, partitions, 1)], timeout_ms=30_000)
                created.append(topic)
            except TopicAlreadyExistsError:
                pass  # another process made it meanwhile
        return created
    finally:
        admin.close()


def variable(part: str) -> str:
    """The setting naming a stream's (or a family part's) topics."""
    return f"TIDEMARK_{part.upper()}_TOPIC"


def run_topics(prefix: str) -> dict[str, str]:
    """Every stream's topic setting pointed at `<prefix>.<stream>`: the topics of one test,
    benchmark or chaos run, apart from any other's."""
    return {variable(name): f"{prefix}.{name}" for name in STREAMS}


def topics_in(env: Mapping[str, str], stream: str) -> list[str]:
    """The topics a stream (a family: every part's) reads under the settings `env`."""
    return [env[variable(part)] for part in FAMILIES.get(stream, [stream])]


def stream_topics(settings: JobSettings) -> list[str]:
    """Every stream's topics as the settings name them (enabled or not: enabling one later
    needs no other step, as migrate's tables)."""
    return [topic for name in STREAMS for topic in topics_of(settings, name)]
