"""An independent oracle for `analytics.ad_window_stats`: plain Python over the exact bytes
sent, written from the ads contract (DESIGN 4.2) without the pipeline's code or its Avro
library: the frame and the Avro body are decoded by hand here."""

from __future__ import annotations

import math
import struct
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

WindowKey = tuple[str, datetime]  # (ad_id, window_start), naive UTC
MICRO = Decimal("0.000001")
AVG_PLACES = Decimal("0.0000000001")


class Undecodable(ValueError):
    pass


def _long(data: bytes, at: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if at >= len(data):
            raise Undecodable("truncated varint")
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), at


def _string(data: bytes, at: int) -> tuple[str, int]:
    size, at = _long(data, at)
    if size < 0 or at + size > len(data):
        raise Undecodable("truncated string")
    return data[at : at + size].decode("utf-8"), at + size


def decode(value: bytes) -> dict[str, Any]:
    """A Confluent-framed AdEvent; Undecodable unless the frame and body are exact."""
    if len(value) < 5 or value[0] != 0:
        raise Undecodable("frame")
    at = 5
    ad_id, at = _string(value, at)
    timestamp, at = _string(value, at)
    clicks, at = _long(value, at)
    views, at = _long(value, at)
    if at + 8 != len(value):
        raise Undecodable("cost or trailing bytes")
    (cost,) = struct.unpack("<d", value[at:])
    return {"ad_id": ad_id, "timestamp": timestamp, "clicks": clicks, "views": views, "cost": cost}


def event_time(timestamp: str) -> datetime:
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def valid(record: dict[str, Any]) -> bool:
    try:
        event_time(record["timestamp"])
    except ValueError:
        return False
    return (
        bool(record["ad_id"])
        and min(record["clicks"], record["views"], record["cost"]) >= 0
        and math.isfinite(record["cost"])
    )


def expected_windows(values: Iterable[bytes]) -> dict[WindowKey, dict[str, Any]]:
    # No event id: the message as written (frame, schema id, body) is the identity.
    by_bytes = {}
    for value in values:
        try:
            record = decode(value)
        except Undecodable:
            continue
        if valid(record):
            by_bytes[value] = tuple(record[k] for k in ("ad_id", "timestamp", "clicks", "views", "cost"))
    events = by_bytes.values()
    windows: dict[WindowKey, dict[str, Any]] = defaultdict(
        lambda: {"total_clicks": 0, "total_views": 0, "total_cost": Decimal(0), "event_count": 0}
    )
    for ad_id, timestamp, clicks, views, cost in events:
        moment = event_time(timestamp)
        seconds = int((moment - datetime(1970, 1, 1)).total_seconds() // 30 * 30)
        bucket = datetime(1970, 1, 1) + timedelta(seconds=seconds)
        for start in (bucket, bucket - timedelta(seconds=30)):  # every event is in two windows
            w = windows[ad_id, start]
            w["total_clicks"] += clicks
            w["total_views"] += views
            w["total_cost"] += Decimal(repr(cost)).quantize(MICRO, ROUND_HALF_UP)
            w["event_count"] += 1
    out = {}
    for (ad_id, start), w in windows.items():
        w["window_end"] = start + timedelta(seconds=60)
        views = w["total_views"]
        w["avg_cost_per_view"] = (w["total_cost"] / views).quantize(AVG_PLACES, ROUND_HALF_UP) if views else None
        out[ad_id, start] = w
    return out
