"""The shape of one stream's producer (`StreamProducer`); producer/streams/ holds one per stream:
`python -m producer` runs the one TIDEMARK_PRODUCER_STREAM names and knows no stream by name."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from producer.settings import ProducerSettings

# One message: its key, its value, and the part of the stream whose topic it goes to ("" = the
# stream's one topic).
Message = tuple[bytes | None, bytes, str]
# A change the producer makes now and then in an operational table, and how often (seconds).
Mutation = tuple[Callable[[random.Random], None], float]


def nothing(_settings: ProducerSettings) -> None:
    """No preparation before the first message."""


def never(_settings: ProducerSettings) -> Mutation | None:
    """No change to any operational table."""
    return None


@dataclass(frozen=True)
class StreamProducer:
    about: str  # what it sends, for --help (its module's docstring)
    noun: str  # what the log calls its messages ("sent 100 beacons")
    # The topic of each part ("" = the stream's one topic), from the settings.
    topics: Callable[[ProducerSettings], dict[str, str]]
    # The endless supply of generated messages; ids new at every start unless a seed is set.
    messages: Callable[[ProducerSettings], Iterator[Message]]
    # Before the first message: seed what the stream's events refer to (recruit tables, customers).
    prepare: Callable[[ProducerSettings], None] = nothing
    mutation: Callable[[ProducerSettings], Mutation | None] = never
    # The messages of an export file (TIDEMARK_PRODUCER_REPLAY_FILE); None: the stream has none.
    replay: Callable[[ProducerSettings, Path], Iterator[Message]] | None = None


def events_seed(settings: ProducerSettings) -> int:
    """The event generators' seed: TIDEMARK_PRODUCER_SEED when it is set (a reproducible run),
    else one per start, so a restarted producer (a rolled Pod) never sends an earlier start's
    session or event ids again with other contents. Catalogs and customers keep the configured
    seed: they are the same rows at every start."""
    if "producer_seed" in settings.model_fields_set:
        return settings.producer_seed
    return time.time_ns() % 2**32
