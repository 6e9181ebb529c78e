"""Ad events as the ad platform's producer sends them (seed 003): Confluent-framed Avro
`AdEvent`s keyed by ad id, timestamps backdated up to 30 minutes, and about half of the
messages re-sent byte-identical."""

from __future__ import annotations

import io
import json
import random
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import fastavro

from wire.formats import AD_EVENT_SCHEMA, confluent_frame

BUILT_IN_SCHEMA_ID = 1  # the id framed when no registry is configured
_PARSED = fastavro.parse_schema(AD_EVENT_SCHEMA)


def encode(record: dict[str, Any], schema_id: int = BUILT_IN_SCHEMA_ID) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, _PARSED, record)
    return confluent_frame(schema_id, body.getvalue())


def register_schema(registry_url: str, subject: str, schema: dict[str, Any] = AD_EVENT_SCHEMA) -> int:
    """Registers a schema (AdEvent by default) under `subject` (Confluent REST API) and returns
    its schema id."""
    request = urllib.request.Request(
        f"{registry_url.rstrip('/')}/subjects/{subject}/versions",
        data=json.dumps({"schema": json.dumps(schema)}).encode(),
        method="POST",
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(json.loads(response.read())["id"])


@dataclass
class AdEventFactory:
    """Seeded, so a test can regenerate exactly what a run sent."""

    seed: int = 7
    ads: int = 50
    backdate_max_seconds: float = 1800.0
    duplicate_rate: float = 0.5
    schema_id: int = BUILT_IN_SCHEMA_ID

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.last: tuple[bytes, bytes] | None = None

    def record(self, now: datetime) -> dict[str, Any]:
        rng = self.rng
        moment = now - timedelta(seconds=rng.uniform(0, self.backdate_max_seconds))
        return {
            "ad_id": f"ad_{rng.randrange(self.ads):04d}",
            "timestamp": moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(),
            "clicks": rng.randint(1, 20),
            "views": rng.randint(10, 200),
            "cost": round(rng.uniform(1, 100), 2),
        }

    def next(self, now: datetime) -> tuple[bytes, bytes]:
        """(key, value) of the next message: a byte-identical re-send of the last one at
        `duplicate_rate`, else a new event."""
        if self.last is not None and self.rng.random() < self.duplicate_rate:
            return self.last
        record = self.record(now)
        self.last = (record["ad_id"].encode(), encode(record, self.schema_id))
        return self.last

    def stream(self, count: int, now: datetime) -> Iterator[tuple[bytes, bytes]]:
        for _ in range(count):
            yield self.next(now)
