"""The user-logs producer: per loop a session, an auth event and an array of 1-30 activity
events, JSON on three topics (TIDEMARK_USERLOGS_{SESSION,AUTH,ACTIVITY}_TOPIC)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

from producer.settings import ProducerSettings
from producer.stream import Message, StreamProducer, events_seed
from producer.userlogs import UserLogFactory


def messages(settings: ProducerSettings) -> Iterator[Message]:
    logs = UserLogFactory(seed=events_seed(settings))
    while True:
        for part, value in logs.loop(datetime.now(timezone.utc)):
            yield None, value, part


PRODUCER = StreamProducer(
    about=__doc__ or "",
    noun="user log messages",
    topics=lambda settings: {
        "session": settings.topics["userlogs_session"],
        "auth": settings.topics["userlogs_auth"],
        "activity": settings.topics["userlogs_activity"],
    },
    messages=messages,
)
