"""A restarted producer (a rolled Pod) sends new identifiers: an earlier start's session, event
or order ids never come back with other contents, unless a seed was set for a reproducible run."""

from __future__ import annotations

import itertools
import json

import pytest

from producer.settings import ProducerSettings
from producer.streams import PRODUCERS


def ids_of_a_start(stream: str, **settings: object) -> set[str]:
    supply = PRODUCERS[stream].messages(ProducerSettings(producer_stream=stream, **settings))  # type: ignore[arg-type]
    ids = set()
    for _key, value, _part in itertools.islice(supply, 30):
        body = json.loads(value)
        for record in body if isinstance(body, list) else [body]:
            ids |= {str(record[k]) for k in ("session_id", "event_id", "ID") if record.get(k)}
    return ids


@pytest.mark.parametrize("stream", ["userlogs", "orders"])
def test_should_send_new_ids_after_a_restart(stream: str) -> None:
    first, second = ids_of_a_start(stream), ids_of_a_start(stream)
    assert first and second and not first & second


def test_should_repeat_its_sessions_when_a_seed_is_set() -> None:
    assert ids_of_a_start("userlogs", producer_seed=3) == ids_of_a_start("userlogs", producer_seed=3)
