"""The userlogs stream end to end on the local stack: three topics, three raw tables, three
hourly rollups, checked against the oracle."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cassandra.cluster import Session

from oracles.userlogs import expected
from producer.userlogs import PART, UserLogFactory, encode

from .pipeline import Pipeline

NOW = datetime.now(timezone.utc).replace(microsecond=0)
USER = "0b6f5a2e-6f1c-4a57-9d3e-2a9d8c1b7e10"
SESSION = "7c1e9f0a-3b2d-4e5f-8a9b-0c1d2e3f4a5b"
AT = (NOW - timedelta(minutes=20)).replace(tzinfo=None)


def event(i: int, **changes: Any) -> dict[str, Any]:
    return {
        "user_id": USER,
        "session_id": SESSION,
        "event_type": "click",
        "timestamp": (AT + timedelta(seconds=i)).isoformat(),
        "url": "/jobs",
        "device": "mobile",
        "location": "US",
        "event_category": "engagement",
        "event_details": {"page_id": SESSION, "content_id": None, "action_taken": "opened"},
        **changes,
    }


def auth(**changes: Any) -> dict[str, Any]:
    return {
        "user_id": USER,
        "session_id": None,
        "timestamp": AT.isoformat(),
        "ip_address": "2001:db8::1",
        "device": "desktop",
        "success": None,
        "failure_reason": "wrong_password",
        **changes,
    }


OFFSET = AT.replace(tzinfo=timezone.utc).astimezone(timezone(timedelta(hours=2))).isoformat()  # AT, at +02:00
GOOD = [
    ("activity", encode([])),  # valid, adds nothing
    ("activity", encode([event(0)])),
    ("activity", encode([event(i) for i in range(30)])),
    ("activity", encode([event(0, event_type="search"), event(1, user_id="nobody"), event(2, event_type="scroll")])),
    ("auth", encode(auth())),  # a failed login: null session id
    ("auth", encode(auth(timestamp=AT.isoformat() + "Z", failure_reason="mfa_failed"))),
    ("auth", encode(auth(timestamp=OFFSET, session_id=SESSION, success="login_success", failure_reason=None))),
    # `Click` is not `click`: two rows of one hour. An event type longer than its column is
    # that element's reject, never a failing aggregate.
    ("activity", encode([event(4, event_type="Click"), event(5, event_type="x" * 65)])),
    ("auth", encode(auth(failure_reason="Wrong_Password"))),
]
BAD = {
    "bad_json": ("session", b'{"user_id": '),
    "wrong_shape": ("activity", encode(event(0))),  # an object, not an array
    "bad_user_id": ("session", encode({"user_id": "42", "session_id": SESSION, "login_time": AT.isoformat()})),
    "bad_session_id": ("auth", encode(auth(session_id="not-a-uuid"))),
    "bad_timestamp": ("auth", encode(auth(timestamp="yesterday"))),
    "bad_outcome": ("auth", encode(auth(success="login_success"))),  # both success and failure_reason
    "too_long": ("auth", encode(auth(failure_reason="account locked after " + "x" * 180))),
}
NEITHER = ("auth", encode(auth(failure_reason=None)))


@pytest.fixture(scope="module")
def userlogs(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    pipeline = Pipeline(spark, tmp_path_factory.mktemp("userlogs"), streams=("userlogs",))
    pipeline.migrate()
    messages = [*UserLogFactory(seed=91).stream(40, NOW), *GOOD, *BAD.values(), NEITHER]
    messages.append(messages[1])  # a byte-identical re-send
    for part in PART:
        pipeline.send_messages(f"userlogs_{part}", [(None, v) for p, v in messages if p == part])
    pipeline.parts = messages
    pipeline.ingested = pipeline.ingest()
    pipeline.aggregate()
    return pipeline


def test_the_raw_tables_keep_every_event(userlogs: Pipeline, cassandra: Session) -> None:
    want = expected(userlogs.parts)

    def count(table: str) -> int:
        return int(cassandra.execute(f"SELECT COUNT(*) FROM {userlogs.name}.{table}").one()[0])

    assert count("user_session_raw") == len(want.sessions)
    assert count("user_auth_raw") == len(want.auth)
    assert count("user_activity_raw") == len(want.activity)
    arrays = [json.loads(v) for p, v in dict.fromkeys(userlogs.parts) if p == "activity" and v.startswith(b"[")]
    assert len(want.activity) == sum(len(a) for a in arrays) - 2, "every element but the two bad ones"
    nulls = cassandra.execute(f"SELECT session_id, outcome FROM {userlogs.name}.user_auth_raw")
    assert any(r.session_id is None and r.outcome == "failure" for r in nulls)


def test_the_hourly_rollups_match_the_oracle(userlogs: Pipeline) -> None:
    want = expected(userlogs.parts)
    sessions = {
        r[0]: (r[1], r[2])
        for r in userlogs.sql("SELECT hour, sessions, avg_duration_seconds FROM user_sessions_hourly")
    }
    assert sessions == want.sessions_hourly()
    auth_rows = {
        (r[0], r[1], r[2]): r[3] for r in userlogs.sql("SELECT hour, outcome, detail, events FROM user_auth_hourly")
    }
    assert auth_rows == want.auth_hourly()
    activity = {(r[0], r[1]): r[2] for r in userlogs.sql("SELECT hour, event_type, events FROM user_activity_hourly")}
    assert activity == want.activity_hourly()


def test_each_bad_message_lands_in_rejects_with_its_reason(userlogs: Pipeline, cassandra: Session) -> None:
    rows = list(cassandra.execute(f"SELECT stream, reason, detail, payload FROM {userlogs.name}.rejects"))
    by_payload = {bytes(r.payload): r for r in rows}
    for reason, (_, payload) in BAD.items():
        assert by_payload[payload].reason == reason
    assert by_payload[NEITHER[1]].reason == "bad_outcome"
    element = by_payload[GOOD[3][1]]
    assert (element.stream, element.reason) == ("userlogs_activity", "bad_user_id")
    assert element.detail.startswith("element 1:")
    assert by_payload[BAD["too_long"][1]].detail == "failure_reason: 201 characters > 128"
    long_type = by_payload[GOOD[7][1]]
    assert (long_type.reason, long_type.detail) == ("too_long", "element 1: too_long event_type: 65 characters > 64")


def test_a_session_re_sent_with_a_corrected_login_counts_once_in_its_new_hour(
    spark: Any, tmp_path: Path, cassandra: Session
) -> None:
    pipeline = Pipeline(spark, tmp_path, streams=("userlogs",))
    pipeline.migrate()
    hour = (NOW - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0, tzinfo=None)

    def session(login: datetime, duration: int) -> tuple[str, bytes]:
        body = {"user_id": USER, "session_id": SESSION, "login_time": login.isoformat(), "duration": duration}
        return "session", encode(body)

    first, corrected = session(hour + timedelta(minutes=10), 60), session(hour + timedelta(hours=1, minutes=5), 90)
    for sent in (first, corrected):  # two batches: the first is aggregated before the correction comes
        pipeline.send_messages("userlogs_session", [(None, sent[1])])
        pipeline.ingest()
        pipeline.aggregate()
    pipeline.parts = [first, corrected]

    rows = list(cassandra.execute(f"SELECT session_id, bucket FROM {pipeline.name}.user_session_raw"))
    assert [(r.session_id, r.bucket) for r in rows] == [(SESSION, hour + timedelta(hours=1, minutes=5))]
    sessions = {
        r[0]: (r[1], r[2])
        for r in pipeline.sql("SELECT hour, sessions, avg_duration_seconds FROM user_sessions_hourly")
    }
    assert sessions == expected(pipeline.parts).sessions_hourly()
    assert list(sessions) == [hour + timedelta(hours=1)], "the earlier hour lost its session"
