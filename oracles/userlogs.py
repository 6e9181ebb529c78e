"""An independent oracle for the user-log tables: plain Python over the exact messages sent on
each topic, written from the userlogs contract (DESIGN 4.4) without the pipeline's code."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def _ids_ok(record: dict[str, Any], session_required: bool) -> bool:
    session = record.get("session_id")
    return _is_uuid(record.get("user_id")) and (_is_uuid(session) or (session is None and not session_required))


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class Expected:
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)  # by session id
    auth: set[str] = field(default_factory=set)  # canonical records
    auth_rows: list[dict[str, Any]] = field(default_factory=list)
    activity: dict[tuple[bytes, int], dict[str, Any]] = field(default_factory=dict)  # (message, index)

    def sessions_hourly(self) -> dict[datetime, tuple[int, Decimal | None]]:
        hours: dict[datetime, list[float]] = {}
        counts: Counter[datetime] = Counter()
        for s in self.sessions.values():
            hour = _hour(_instant(s["login_time"]))  # type: ignore[arg-type]
            counts[hour] += 1
            if s.get("duration") is not None:
                hours.setdefault(hour, []).append(s["duration"])
        out = {}
        for hour, count in counts.items():
            durations = [Decimal(repr(float(d))).quantize(Decimal("0.001"), ROUND_HALF_UP) for d in hours.get(hour, [])]
            average = None
            if durations:
                average = (sum(durations, Decimal(0)) / len(durations)).quantize(Decimal("0.001"), ROUND_HALF_UP)
            out[hour] = (count, average)
        return out

    def auth_hourly(self) -> dict[tuple[datetime, str, str], int]:
        counts: Counter[tuple[datetime, str, str]] = Counter()
        for r in self.auth_rows:
            outcome = "success" if r["success"] is not None else "failure"
            detail = r["success"] if r["success"] is not None else r["failure_reason"]
            counts[_hour(_instant(r["timestamp"])), outcome, detail] += 1  # type: ignore[arg-type]
        return dict(counts)

    def activity_hourly(self) -> dict[tuple[datetime, str], int]:
        counts: Counter[tuple[datetime, str]] = Counter()
        for e in self.activity.values():
            counts[_hour(_instant(e["timestamp"])), e.get("event_type") or ""] += 1  # type: ignore[arg-type]
        return dict(counts)


def _session_ok(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and _ids_ok(body, True)
        and _instant(body.get("login_time")) is not None
        and (body.get("logout_time") is None or _instant(body["logout_time"]) is not None)
    )


def _auth_ok(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and _ids_ok(body, False)
        and _instant(body.get("timestamp")) is not None
        and (body.get("success") is None) != (body.get("failure_reason") is None)
        # The reason (or success name) fits the rollup's key column.
        and len(str(body["success"] if body.get("success") is not None else body["failure_reason"])) <= 128
    )


def _element_ok(e: Any) -> bool:
    return (
        isinstance(e, dict)
        and _ids_ok(e, False)
        and _instant(e.get("timestamp")) is not None
        and isinstance(e.get("event_details") or {}, dict)
        and (e.get("event_type") is None or len(str(e["event_type"])) <= 64)
    )


def expected(messages: Iterable[tuple[str, bytes]]) -> Expected:
    """`messages` are (part, value) with part one of session, auth, activity, in send order."""
    out = Expected()
    for part, value in messages:
        try:
            body = json.loads(value)
        except ValueError:
            continue
        if part == "session" and _session_ok(body):
            out.sessions[body["session_id"]] = body
        elif part == "auth" and _auth_ok(body):
            key = json.dumps(body, sort_keys=True)
            if key not in out.auth:
                out.auth.add(key)
                out.auth_rows.append(body)
        elif part == "activity" and isinstance(body, list):
            canonical = json.dumps(body, sort_keys=True).encode()
            for i, e in enumerate(body):
                if _element_ok(e):
                    out.activity[canonical, i] = e
    return out
