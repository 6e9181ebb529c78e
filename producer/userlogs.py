"""User logs as the seed's generators send them (seed 002): per loop one session, one auth
event and an array of 1-30 activity events, each JSON on its own topic, with zone-less UTC
timestamps."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

DEVICES = ("desktop", "mobile", "tablet")
SUCCESSES = ("login_success", "login_success", "login_success", "password_reset", "mfa_success", "device_registered")
FAILURES = ("wrong_password", "mfa_failed", "account_locked", "suspicious_location")
EVENT_TYPES = ("login", "click", "click", "scroll", "search", "view", "logout")
PART = {"session": "userlogs_session", "auth": "userlogs_auth", "activity": "userlogs_activity"}


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()


@dataclass
class UserLogFactory:
    """Seeded, so a test can regenerate what a run sent. `failure_rate` of the auth events fail
    (with a null session id, as the seed's generator sends them)."""

    seed: int = 7
    users: int = 100
    failure_rate: float = 0.25
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.user_ids = [str(uuid.UUID(int=self.rng.getrandbits(128), version=4)) for _ in range(self.users)]

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def loop(self, now: datetime) -> list[tuple[str, bytes]]:
        """(part, value) of one loop: a session, an auth event, an activity array."""
        rng = self.rng
        user, session = rng.choice(self.user_ids), self._uuid()
        login = (now - timedelta(seconds=rng.uniform(0, 900))).astimezone(timezone.utc).replace(tzinfo=None)
        duration = rng.randint(30, 3600)
        device = rng.choice(DEVICES)
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        failed = rng.random() < self.failure_rate
        auth = {
            "user_id": user,
            "session_id": None if failed else session,
            "timestamp": login.isoformat(),
            "ip_address": ip,
            "device": device,
            "success": None if failed else rng.choice(SUCCESSES),
            "failure_reason": rng.choice(FAILURES) if failed else None,
        }
        # The session's events happen between its login and now, never in the future.
        count = rng.randint(1, 30)
        step = (now.astimezone(timezone.utc).replace(tzinfo=None) - login).total_seconds() / count
        activity = [
            {
                "user_id": user,
                "session_id": session,
                "event_type": rng.choice(EVENT_TYPES),
                "timestamp": (login + timedelta(seconds=i * step)).isoformat(),
                "url": f"/page/{rng.randrange(50)}",
                "device": device,
                "location": "US",
                "event_category": rng.choice(("navigation", "engagement", "account")),
                "event_details": {
                    "page_id": self._uuid(),
                    "content_id": self._uuid() if rng.random() < 0.7 else None,
                    "action_taken": rng.choice(("opened", "closed", "submitted", "none")),
                },
            }
            for i in range(count)
        ]
        session_log = {
            "user_id": user,
            "session_id": session,
            "login_time": login.isoformat(),
            "logout_time": (login + timedelta(seconds=duration)).isoformat(),
            "duration": duration,
            "device": device,
            "os": rng.choice(("linux", "macos", "windows", "android", "ios")),
            "browser": rng.choice(("firefox", "chrome", "safari")),
            "location": "US",
            "ip_address": ip,
        }
        return [("session", encode(session_log)), ("auth", encode(auth)), ("activity", encode(activity))]

    def stream(self, loops: int, now: datetime) -> Iterator[tuple[str, bytes]]:
        for _ in range(loops):
            yield from self.loop(now)
