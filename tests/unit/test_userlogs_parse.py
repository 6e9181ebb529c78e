"""The userlogs parts' pure parses: sessions, auth events and activity arrays."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from jobs.spec import Reject
from jobs.streams.userlogs import parse_activity, parse_auth, parse_session
from producer.userlogs import UserLogFactory, encode

USER = "0b6f5a2e-6f1c-4a57-9d3e-2a9d8c1b7e10"
SESSION = "7c1e9f0a-3b2d-4e5f-8a9b-0c1d2e3f4a5b"
AUTH = {"user_id": USER, "session_id": None, "timestamp": "2026-11-22T10:00:00", "success": None,
        "failure_reason": "wrong_password", "ip_address": "::1", "device": "mobile"}  # fmt: skip
EVENT = {"user_id": USER, "session_id": SESSION, "event_type": "click", "timestamp": "2026-11-22T10:00:00Z",
         "event_details": {"page_id": SESSION, "content_id": None, "action_taken": "opened"}}  # fmt: skip


def test_should_keep_a_failed_login_with_a_null_session() -> None:
    (row,) = parse_auth(encode(AUTH))  # type: ignore[misc]
    assert isinstance(row, dict)
    assert (row["session_id"], row["outcome"], row["outcome_detail"]) == (None, "failure", "wrong_password")


def test_should_identify_an_auth_event_by_its_whole_record() -> None:
    first, again = parse_auth(encode(AUTH)), parse_auth(encode(AUTH))
    other = parse_auth(encode({**AUTH, "ip_address": "::2"}))
    assert first[0]["event_id"] == again[0]["event_id"] != other[0]["event_id"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"success": "login_success"}, "bad_outcome"),
        ({"failure_reason": None}, "bad_outcome"),
        ({"user_id": "7"}, "bad_user_id"),
        ({"session_id": "not-a-uuid"}, "bad_session_id"),
        ({"timestamp": "22/11/2026"}, "bad_timestamp"),
    ],
)
def test_should_reject_a_bad_auth_event(changes: dict[str, Any], reason: str) -> None:
    got = parse_auth(encode({**AUTH, **changes}))
    assert isinstance(got, Reject) and got.reason == reason


def test_should_read_an_offset_as_utc_in_a_session() -> None:
    session = {"user_id": USER, "session_id": SESSION, "login_time": "2026-11-22T12:00:00+02:00", "duration": 60}
    (row,) = parse_session(encode(session))  # type: ignore[misc]
    assert row["event_time"] == datetime(2026, 11, 22, 10, 0)  # type: ignore[index]


def test_should_require_a_session_id_for_a_session() -> None:
    got = parse_session(encode({"user_id": USER, "session_id": None, "login_time": "2026-11-22T10:00:00"}))
    assert isinstance(got, Reject) and got.reason == "bad_session_id"


def test_should_give_each_array_element_a_row_or_a_reject_of_its_own() -> None:
    got = parse_activity(encode([EVENT, {**EVENT, "user_id": "x"}, EVENT]))
    assert isinstance(got, list)
    assert [type(r).__name__ for r in got] == ["dict", "Reject", "dict"]
    first, _, third = got
    assert isinstance(first, dict) and isinstance(third, dict)
    assert first["event_id"] != third["event_id"], "equal elements of one array are two events"
    assert (first["page_id"], first["content_id"], first["action_taken"]) == (SESSION, None, "opened")


def test_should_take_an_empty_array_as_nothing_and_an_object_as_a_wrong_shape() -> None:
    assert parse_activity(b"[]") == []
    got = parse_activity(encode(EVENT))
    assert isinstance(got, Reject) and got.reason == "wrong_shape"
    assert parse_activity(b"[1,") == Reject("bad_json")


def test_should_generate_messages_every_part_accepts() -> None:
    parsers = {"session": parse_session, "auth": parse_auth, "activity": parse_activity}
    sent = list(UserLogFactory(seed=5).stream(50, datetime(2026, 11, 22, 10, 0)))
    for part, value in sent:
        got = parsers[part](value)
        assert isinstance(got, list) and all(isinstance(r, dict) for r in got), (part, got)
    failures = [v for p, v in sent if p == "auth" and b'"success": null' in v]
    assert failures and all(b'"session_id": null' in v for v in failures)
