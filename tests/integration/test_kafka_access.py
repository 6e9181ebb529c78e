"""The local broker speaks TLS only, authenticates every client and lets each do only what its
ACLs allow, as the chart's Kafka does (local/kafka_users.py mirrors templates/kafka/users.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, TopicAuthorizationFailedError

from local import kafka_users, topics

from .conftest import KAFKA, unique


def test_should_let_the_producer_write_and_the_jobs_read_a_stream_topic_and_nothing_more() -> None:
    topic = f"{unique('acl')}.tracking"
    topics.ensure(KAFKA, [topic])
    producer = KafkaProducer(**kafka_users.kafka_python(KAFKA, kafka_users.PRODUCER), acks="all")
    producer.send(topic, b"hello").get(timeout=30)
    producer.close()

    reader = KafkaConsumer(**kafka_users.kafka_python(KAFKA, kafka_users.JOBS), consumer_timeout_ms=1000)
    partitions = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or [])]
    assert sum(reader.end_offsets(partitions).values()) == 1
    reader.close()

    jobs_writing = KafkaProducer(**kafka_users.kafka_python(KAFKA, kafka_users.JOBS), acks="all")
    # Refused before the topic is even asked: a user with no Write anywhere gets no producer id.
    with pytest.raises(KafkaError, match=r"ClusterAuthorizationFailed|TopicAuthorizationFailed"):
        jobs_writing.send(topic, b"not mine").get(timeout=30)
    jobs_writing.close()

    producer_reading = KafkaConsumer(**kafka_users.kafka_python(KAFKA, kafka_users.PRODUCER))
    producer_reading.assign([TopicPartition(topic, 0)])
    producer_reading.seek_to_beginning()
    with pytest.raises(TopicAuthorizationFailedError):
        producer_reading.poll(timeout_ms=10_000)
    producer_reading.close()


def test_should_refuse_a_topic_no_acl_names() -> None:
    topic = f"{unique('acl')}.unlisted"
    producer = KafkaProducer(**kafka_users.kafka_python(KAFKA, kafka_users.PRODUCER), acks="all", max_block_ms=10_000)
    with pytest.raises(KafkaError):
        producer.send(topic, b"x").get(timeout=30)
    producer.close()


def test_should_refuse_a_wrong_password_and_an_anonymous_client() -> None:
    wrong = kafka_users.kafka_python(KAFKA, kafka_users.PRODUCER) | {"sasl_plain_password": "guess"}
    with pytest.raises(KafkaError):
        KafkaProducer(**wrong, max_block_ms=10_000).send("tidemark.tracking", b"x").get(timeout=20)
    with pytest.raises(KafkaError):
        KafkaProducer(bootstrap_servers=KAFKA, max_block_ms=10_000).send("tidemark.tracking", b"x").get(timeout=20)


def test_should_refuse_a_client_in_clear_or_one_that_trusts_another_ca(other_ca: Path) -> None:
    plain = kafka_users.kafka_python(KAFKA, kafka_users.PRODUCER) | {"security_protocol": "SASL_PLAINTEXT"}
    untrusting = kafka_users.kafka_python(KAFKA, kafka_users.PRODUCER) | {"ssl_cafile": str(other_ca)}
    for options in (plain, untrusting):
        with pytest.raises(KafkaError):
            KafkaProducer(**options, max_block_ms=10_000).send("tidemark.tracking", b"x").get(timeout=20)
    # The same login with the stack's CA is let in: what failed above is the transport.
    trusting = KafkaProducer(**kafka_users.kafka_python(KAFKA, kafka_users.PRODUCER), max_block_ms=10_000)
    assert trusting.partitions_for("tidemark.tracking"), "the broker's metadata, over TLS"
    trusting.close()
