"""An independent oracle for `analytics.events`: plain Python over the beacons that were
sent, written from DESIGN.md 4.1 without any of the pipeline's code."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

Key = tuple[int, date, int, int, int, int]  # job, dates, hours, publisher, campaign, group

MICRO = Decimal("0.000001")  # money is kept to the micro-unit


def money(bid: Any) -> Decimal:
    """A bid as sent (number or numeric text), to the micro-unit."""
    return Decimal(bid if isinstance(bid, str) else repr(bid)).quantize(MICRO, ROUND_HALF_UP)


def mean_bid(total: Decimal, count: int) -> Decimal:
    """The mean as MySQL stores DECIMAL division in a 6-decimal column: the quotient to 10
    decimals (the dividend's 6 + div_precision_increment 4), then to 6, each half up."""
    return (total / count).quantize(Decimal("1e-10"), ROUND_HALF_UP).quantize(MICRO, ROUND_HALF_UP)


TRACK_TO_COLUMN = {
    "click": "clicks",
    "conversion": "conversion",
    "qualified": "qualified_application",
    "unqualified": "disqualified_application",
    "": "impressions",
}


def event_time(create_time: str) -> datetime:
    ticks = uuid.UUID(create_time).time  # 100-ns intervals since 1582-10-15
    return datetime(1582, 10, 15, tzinfo=timezone.utc) + timedelta(microseconds=ticks // 10)


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _from_ed(ed: Any, field: str) -> int | None:
    try:
        value = json.loads(ed).get(field) if ed else None
    except (ValueError, AttributeError):
        return None
    return _positive(value)


def expected_events(
    beacons: Iterable[dict[str, Any]], report_timezone: str = "UTC", companies: dict[int, int] | None = None
) -> dict[Key, dict[str, Any]]:
    zone = ZoneInfo(report_timezone)
    unique = {b["create_time"]: b for b in beacons}  # a re-sent beacon counts once
    rows: dict[Key, dict[str, Any]] = defaultdict(
        lambda: {
            "clicks": 0,
            "conversion": 0,
            "qualified_application": 0,
            "disqualified_application": 0,
            "impressions": 0,
            "bids": [],
        }
    )
    for b in unique.values():
        track = (b.get("custom_track") or "").strip().lower()
        if track not in TRACK_TO_COLUMN:
            continue  # other kinds stay raw only
        job = _positive(b.get("job_id")) or _from_ed(b.get("ed"), "jobId")
        if job is None:
            continue  # unattributed
        publisher = _positive(b.get("publisher_id")) or _from_ed(b.get("ed"), "publisherId") or 0
        local = event_time(b["create_time"]).astimezone(zone)
        key = (job, local.date(), local.hour, publisher, b.get("campaign_id") or 0, b.get("group_id") or 0)
        row = rows[key]
        row[TRACK_TO_COLUMN[track]] += 1
        if track == "click" and b.get("bid") is not None:
            row["bids"].append(money(b["bid"]))
    out = {}
    for key, row in rows.items():
        bids = row.pop("bids")
        row["spend_hour"] = sum(bids, Decimal(0))
        row["bid_set"] = mean_bid(sum(bids, Decimal(0)), len(bids)) if bids else None
        row["company_id"] = (companies or {}).get(key[0], 0)
        out[key] = row
    return out
