"""The producers' registry: one module per stream, chosen by TIDEMARK_PRODUCER_STREAM."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from jobs.settings import JobSettings
from jobs.streams import FAMILIES, topics_of
from producer.settings import ProducerSettings
from producer.streams import PRODUCERS, producer_of
from tests.conftest import ROOT


def test_an_unknown_stream_stops_the_producer_naming_the_setting() -> None:
    with pytest.raises(SystemExit, match=r"TIDEMARK_PRODUCER_STREAM: unknown stream 'clicks' \(known: tracking, ads"):
        producer_of(ProducerSettings(producer_stream="clicks"))


@pytest.mark.parametrize("stream", list(PRODUCERS))
def test_every_message_goes_to_a_topic_the_jobs_read(stream: str) -> None:
    settings = ProducerSettings(producer_stream=stream, producer_seed=1)
    producer = producer_of(settings)
    topics = producer.topics(settings)
    parts = {part for _key, _value, part in itertools.islice(producer.messages(settings), 40)}
    assert parts <= set(topics), f"{stream} sends parts {parts - set(topics)} it names no topic for"
    jobs = JobSettings()
    assert sorted(topics.values()) == sorted(t for part in FAMILIES[stream] for t in topics_of(jobs, part)), (
        "the producer's default topics are the jobs'"
    )


@pytest.mark.parametrize("stream", ["ads", "orders", "userlogs"])
def test_only_the_tracking_producer_touches_the_recruit_tables(stream: str) -> None:
    # Every producer gets the same settings (one ConfigMap); MySQL on port 1 fails any connection.
    settings = ProducerSettings(
        producer_stream=stream,
        producer_seed_recruit=True,
        producer_mutate_jobs_every_seconds=5,
        producer_customers=0,
        mysql_port=1,
    )
    producer = producer_of(settings)
    producer.prepare(settings)
    assert producer.mutation(settings) is None


def test_the_producer_imports_no_job_and_no_spark() -> None:
    # As in the producer image, which holds wire/ and producer/ only: `jobs` and pyspark absent.
    blocked = "import sys; sys.modules.update(jobs=None, pyspark=None); import producer.__main__, producer.streams"
    done = subprocess.run([sys.executable, "-c", blocked], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
