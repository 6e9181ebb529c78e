"""The ads stream end to end on the local stack, checked row for row against the oracle."""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cassandra.cluster import Session

from oracles.ads import expected_windows
from producer.ads import AdEventFactory, encode

from .pipeline import Pipeline

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat()


def boundary(minutes_ago: int) -> datetime:
    """A moment exactly on a 30-s boundary."""
    moment = (NOW - timedelta(minutes=minutes_ago)).replace(second=30)
    return moment.astimezone(timezone.utc)


def record(ad_id: str, moment: str, clicks: int = 2, views: int = 20, cost: float = 3.25) -> dict[str, Any]:
    return {"ad_id": ad_id, "timestamp": moment, "clicks": clicks, "views": views, "cost": cost}


def message(rec: dict[str, Any]) -> tuple[bytes, bytes]:
    return rec["ad_id"].encode(), encode(rec)


def frame(body: bytes, magic: int = 0) -> bytes:
    return bytes([magic]) + struct.pack(">I", 1) + body


BODY = encode(record("ad_bad", _iso(NOW)))[5:]
BAD_FRAMES = {
    "too_short": b"\x00\x00\x01",
    "bad_magic_byte": frame(BODY, magic=7),
    "bad_avro": frame(BODY[:-4]),
    "bad_timestamp": encode(record("ad_bad", "22/11/2026 10:00")),
    "negative_value": encode(record("ad_bad", _iso(NOW), clicks=-3)),
    "non_finite_cost": encode(record("ad_bad", _iso(NOW), cost=float("nan"))),
}
TRAILING = frame(BODY + b"\x00\x00")


def edge_cases() -> list[dict[str, Any]]:
    on_boundary = boundary(7)
    return [
        record("ad_edge", _iso(on_boundary)),  # exactly on a boundary: windows start there and 30 s before
        record("ad_edge", _iso(on_boundary - timedelta(microseconds=1)), cost=1.1),  # just before it
        record(
            "ad_zone",
            (on_boundary + timedelta(seconds=5)).astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
        ),
        record("ad_zone", _iso(on_boundary + timedelta(seconds=5)) + "Z", clicks=4),
        record("ad_zone", _iso(on_boundary + timedelta(seconds=5)).split(".")[0] + ".5"),
        record("ad_zero", _iso(on_boundary), views=0, cost=0.0),  # no views: a NULL average
        record("ad_same", _iso(on_boundary), cost=0.1),
        record("ad_same", _iso(on_boundary), cost=0.2),  # same ad and time, another cost: another event
        record("ad_late", _iso(NOW - timedelta(hours=9))),  # hours late: lands all the same
        record("ad_7", _iso(on_boundary)),
        record("AD_7", _iso(on_boundary), clicks=5),  # another ad: ids compare exactly, case and all
        record("ad_7 ", _iso(on_boundary), clicks=6),  # and trailing spaces too
    ]


@pytest.fixture(scope="module")
def ads(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    pipeline = Pipeline(spark, tmp_path_factory.mktemp("ads"), streams=("ads",))
    pipeline.migrate()
    generated = list(AdEventFactory(seed=17, ads=12).stream(1500, NOW))
    messages = generated + [message(r) for r in edge_cases()] + [message(r) for r in edge_cases()[:3]]
    messages += [(b"ad_bad", value) for value in [*BAD_FRAMES.values(), TRAILING]]
    pipeline.send_messages("ads", messages)
    pipeline.frames = [value for _, value in messages]
    pipeline.ingested = pipeline.ingest()
    pipeline.aggregate()
    return pipeline


def assert_matches_oracle(pipeline: Pipeline) -> None:
    want = expected_windows(pipeline.frames)
    got = pipeline.ad_windows()
    assert set(got) == set(want), (sorted(set(got) ^ set(want))[:10], len(got), len(want))
    mismatched = {k: (got[k], want[k]) for k in want if got[k] != {c: want[k][c] for c in got[k]}}
    assert not mismatched, list(mismatched.items())[:3]


def test_windows_match_the_oracle_row_for_row(ads: Pipeline) -> None:
    assert_matches_oracle(ads)
    windows = ads.ad_windows()
    assert any(w["avg_cost_per_view"] is None for (ad, _), w in windows.items() if ad == "ad_zero")
    edge = boundary(7).replace(tzinfo=None)
    assert {start for ad, start in windows if ad == "ad_edge"} == {
        edge - timedelta(seconds=60),
        edge - timedelta(seconds=30),
        edge,
    }
    late = [start for ad, start in windows if ad == "ad_late"]
    assert len(late) == 2 and min(late) < edge - timedelta(hours=8)


def test_each_bad_frame_lands_in_rejects_with_its_reason_and_bytes(ads: Pipeline, cassandra: Session) -> None:
    assert dict(ads.ingested.rejected_by_stream) == {
        **{("ads", reason): 1 for reason in BAD_FRAMES},
        ("ads", "bad_avro"): 2,
    }
    rows = cassandra.execute(f"SELECT reason, detail, payload, topic FROM {ads.name}.rejects")
    by_payload = {bytes(r.payload): r for r in rows}
    for reason, payload in BAD_FRAMES.items():
        assert by_payload[payload].reason == reason
        assert by_payload[payload].topic == f"{ads.name}.ads"
    assert by_payload[TRAILING].detail == "2 trailing bytes"


def test_a_late_byte_identical_resend_changes_nothing(ads: Pipeline) -> None:
    before = ads.sql("SELECT * FROM ad_window_stats ORDER BY ad_id, window_start")
    late = [m for m in (message(r) for r in edge_cases()) if m[0] == b"ad_late"]
    ads.send_messages("ads", late)
    ads.frames += [value for _, value in late]
    ingested = ads.ingest()
    rerun = ads.aggregate()
    assert ingested.rows_written == 1 and rerun.buckets_recomputed == 1
    assert ads.sql("SELECT * FROM ad_window_stats ORDER BY ad_id, window_start") == before


def test_the_raw_table_holds_each_distinct_event_once(ads: Pipeline, cassandra: Session) -> None:
    distinct = {value for value in ads.frames if value not in (*BAD_FRAMES.values(), TRAILING)}
    (count,) = cassandra.execute(f"SELECT COUNT(*) FROM {ads.name}.ads_raw").one()
    assert count == len(distinct)


def test_every_stream_has_its_own_watermark(ads: Pipeline, tmp_path: Path) -> None:
    streams = dict(ads.sql("SELECT stream, newest_event_time FROM watermarks"))
    assert set(streams) == {"ads"}
    assert streams["ads"] <= NOW.replace(tzinfo=None)
