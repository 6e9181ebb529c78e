"""Properties of every stream's parse over generated input (Hypothesis).

For arbitrary bytes, and for messages built around each stream's valid shape with fields
replaced by wrong types, non-finite and huge numbers, extreme timestamps and deep nesting, a
Python parse never raises and gives rows or rejects; every row it accepts has a datetime
event time and money, counts and durations that are finite, not negative and within their
maxima. Tracking is classified by Spark SQL: one generated batch at a time goes through
`classify_records`, and every row has a reason or a sane time, bucket and bid.
"""

from __future__ import annotations

import json
import math
import random
import struct
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from jobs.spec import Reject
from jobs.streams import ads, orders, userlogs
from jobs.streams.tracking import MAX_BID, classify_records
from producer.beacons import timeuuid_at
from wire.formats import confluent_frame

from .conftest import records

# Modest, so the unit tier stays quick; no example database left in the work tree.
QUICK = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

NOW = datetime(2026, 11, 22, 12, 0)
USER = "0b6f5a2e-6f1c-4a57-9d3e-2a9d8c1b7e10"
SESSION = "7c1e9f0a-3b2d-4e5f-8a9b-0c1d2e3f4a5b"

# --- what every parse result must satisfy ----------------------------------------------------


def check(got: Any, bounded: dict[str, tuple[float, float]], required: tuple[str, ...] = ()) -> None:
    """`got` is a Reject or a list of rows and Rejects; each row has a datetime event time and
    each `bounded` field is None or a finite number within its bounds."""
    assert isinstance(got, Reject | list), got
    for row in got if isinstance(got, list) else []:
        assert isinstance(row, dict | Reject), row
        if isinstance(row, Reject):
            continue
        assert isinstance(row["event_time"], datetime), row
        for name, (low, high) in bounded.items():
            value = row[name]
            if value is None and name not in required:
                continue
            assert isinstance(value, int | float) and not isinstance(value, bool), (name, value)
            assert math.isfinite(value) and low <= value <= high, (name, value)


MONEY = (0.0, 1e12)
INT32 = (0, 2**31 - 1)
BIGINT = (-(2**63), 2**63 - 1)
AD_BOUNDS = {"clicks": INT32, "views": INT32, "cost": MONEY}
ORDER_BOUNDS = {
    "total": MONEY,
    "discount": MONEY,
    "subtotal": MONEY,
    "tax": MONEY,
    "quantity": INT32,
    "order_id": BIGINT,
    "user_id": BIGINT,
    "product_id": BIGINT,
}
SESSION_BOUNDS = {"duration": (0.0, float(userlogs.MAX_DURATION_SECONDS))}
PARSES: dict[str, tuple[Callable[[bytes], Any], dict[str, tuple[float, float]], tuple[str, ...]]] = {
    "ads": (ads.parse, AD_BOUNDS, ("clicks", "views", "cost")),
    "orders": (orders.parse, ORDER_BOUNDS, ("total", "order_id", "user_id")),
    "userlogs_session": (userlogs.parse_session, SESSION_BOUNDS, ()),
    "userlogs_auth": (userlogs.parse_auth, {}, ()),
    "userlogs_activity": (userlogs.parse_activity, {}, ()),
}

# --- JSON-ish values as raw text, so they can hold what no Python value dumps to -------------

NASTY_TOKENS = [
    "NaN", "-NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1.7e308", "-1.7e308", "1e-400", "-0.0", "-0",
    "9" * 400, "-" + "9" * 400, "9" * 4400, "1" + "0" * 19, "2147483648", "9223372036854775808", '"1e400"', '"NaN"',
    '""', "null", "true", "false", "[]", "{}", '"\\ud800"', '"\\udfff x"', '"\\u0000"', "'single'", "01", ".5", "1.",
]  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
timestamps = st.one_of(
    st.builds(
        lambda moment, zone: moment.isoformat() + zone,
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)),
        st.sampled_from(["", "Z", "+00:00", "+01:00", "-01:00", "+23:59", "-23:59", "+0530", "+24:00"]),
    ),
    st.builds(lambda s: (NOW - timedelta(seconds=s)).isoformat(), st.integers(-7200, 40 * 86_400)),
    st.text(max_size=30),
)
raw_values = st.one_of(
    st.sampled_from(NASTY_TOKENS),
    st.integers().map(str),
    st.floats().map(json.dumps),
    timestamps.map(json.dumps),
    st.text(max_size=20).map(json.dumps),
    st.text(max_size=20).map(lambda t: json.dumps(t, ensure_ascii=False)),
    json_values.map(json.dumps),
    st.integers(1, 1200).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 300).map(lambda n: '{"a": ' * n + "1" + "}" * n),
    st.integers(0, 3000).map(lambda n: "[" + ",".join(["0"] * n) + "]"),
)


def json_object(valid: dict[str, Any]) -> st.SearchStrategy[str]:
    """The valid object's text with a few fields replaced by raw values or dropped, and maybe
    extra fields: mostly valid, so the checks past the first one are reached too."""
    change = st.one_of(st.just("drop"), raw_values)

    def assemble(changes: dict[str, str], extra: list[tuple[str, str]]) -> str:
        parts = [
            f"{json.dumps(key)}: {changes.get(key, json.dumps(value))}"
            for key, value in valid.items()
            if changes.get(key) != "drop"
        ]
        parts += [f"{json.dumps(key)}: {value}" for key, value in extra]
        return "{" + ", ".join(parts) + "}"

    return st.builds(
        assemble,
        st.dictionaries(st.sampled_from(sorted(valid)), change, max_size=3),
        st.lists(st.tuples(st.text(max_size=8), raw_values), max_size=2),
    )


ORDER = {"ID": 1, "Created At": "2026-11-22T11:30:00.892+05:30", "Discount": None, "Product ID": 14, "Quantity": 2,
         "Subtotal": 37.65, "Tax": 2.07, "Total": 39.72, "User ID": 1}  # fmt: skip
SESSION_RECORD = {"user_id": USER, "session_id": SESSION, "login_time": "2026-11-22T11:30:00",
                  "logout_time": "2026-11-22T11:40:00", "duration": 600, "device": "mobile", "os": "iOS"}  # fmt: skip
AUTH = {"user_id": USER, "session_id": None, "timestamp": "2026-11-22T11:30:00", "success": None,
        "failure_reason": "wrong_password", "ip_address": "::1", "device": "mobile"}  # fmt: skip
EVENT = {"user_id": USER, "session_id": SESSION, "event_type": "click", "timestamp": "2026-11-22T11:30:00Z",
         "url": "/jobs/7", "event_details": {"page_id": "p1", "content_id": None, "action_taken": "go"}}  # fmt: skip

MESSAGES = {
    "orders": json_object(ORDER),
    "userlogs_session": json_object(SESSION_RECORD),
    "userlogs_auth": json_object(AUTH),
    "userlogs_activity": st.one_of(
        st.lists(json_object(EVENT), max_size=5).map(lambda events: "[" + ", ".join(events) + "]"),
        raw_values,
    ),
}

# --- Avro frames for ads, including what the writer would refuse ----------------------------


def _long(n: int) -> bytes:
    """An Avro long (zig-zag varint) of any Python int, past 64 bits too."""
    z = (n << 1) if n >= 0 else ((-n << 1) - 1)
    out = bytearray()
    while True:
        out.append((z & 0x7F) | (0x80 if z > 0x7F else 0))
        z >>= 7
        if not z:
            return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")
    return _long(len(raw)) + raw


ad_frames = st.builds(
    lambda ad_id, timestamp, clicks, views, cost, schema_id: confluent_frame(
        schema_id, _string(ad_id) + _string(timestamp) + _long(clicks) + _long(views) + struct.pack("<d", cost)
    ),
    st.one_of(st.just("ad_0007"), st.text(max_size=300)),
    timestamps,
    st.one_of(st.integers(0, 50), st.integers(-(2**70), 2**70)),
    st.one_of(st.integers(0, 500), st.integers(-(2**40), 2**40)),
    st.one_of(st.floats(0, 100), st.floats(), st.sampled_from([1e12, 1e12 + 1e-3, 1.7e308, -0.0, 5e-324])),
    st.one_of(st.just(1), st.integers(0, 2**32 - 1)),
)
mangled_frames = st.builds(
    lambda frame, cut, flip: bytes(frame[:cut]) if flip is None else frame[:cut] + bytes([flip]) + frame[cut + 1 :],
    ad_frames,
    st.integers(0, 80),
    st.none() | st.integers(0, 255),
)

# --- the properties ---------------------------------------------------------------------------


@QUICK
@given(payload=st.binary(max_size=2000), stream=st.sampled_from(sorted(PARSES)))
def test_should_never_raise_on_arbitrary_bytes(payload: bytes, stream: str) -> None:
    parse, bounds, required = PARSES[stream]
    check(parse(payload), bounds, required)


@QUICK
@given(frame=st.one_of(ad_frames, mangled_frames))
def test_should_accept_only_sane_ad_events(frame: bytes) -> None:
    check(ads.parse(frame), AD_BOUNDS, ("clicks", "views", "cost"))


@QUICK
@given(message=MESSAGES["orders"])
def test_should_accept_only_sane_orders(message: str) -> None:
    check(orders.parse(message.encode("utf-8", "surrogatepass")), ORDER_BOUNDS, ("total", "order_id", "user_id"))


@QUICK
@given(message=MESSAGES["userlogs_session"])
def test_should_accept_only_sane_sessions(message: str) -> None:
    check(userlogs.parse_session(message.encode("utf-8", "surrogatepass")), SESSION_BOUNDS)


@QUICK
@given(message=MESSAGES["userlogs_auth"])
def test_should_never_raise_on_auth_events(message: str) -> None:
    got = userlogs.parse_auth(message.encode("utf-8", "surrogatepass"))
    check(got, {})
    if isinstance(got, list):
        assert all(isinstance(row, dict) and len(row["event_id"]) == 32 for row in got)


@QUICK
@given(message=MESSAGES["userlogs_activity"])
def test_should_give_each_activity_element_a_row_or_a_reject(message: str) -> None:
    got = userlogs.parse_activity(message.encode("utf-8", "surrogatepass"))
    check(got, {})
    if isinstance(got, list):
        events = json.loads(message)
        assert len(got) == len(events), "one row or reject per element"


# --- tracking, through Spark ------------------------------------------------------------------

RETENTION_DAYS = 30
MAX_FUTURE_SECONDS = 3600
valid_create_times = st.builds(
    lambda ago, seed: timeuuid_at(NOW.replace(tzinfo=timezone.utc) - timedelta(seconds=ago), random.Random(seed)),
    st.integers(-2 * MAX_FUTURE_SECONDS, (RETENTION_DAYS + 1) * 86_400),
    st.integers(0, 2**32),
)
# Bids as sent: numbers and text, money and not.
bids = st.one_of(
    st.sampled_from(
        ["-5", "-0.01", '"-5"', "NaN", "Infinity", "-Infinity", "1e400", '"1e400"', "-1e400", '"-1e400"', "1.7e308",
         '"1000000.5"', "1e6", "1000000.000001", "0", "-0.0", '""', "null", '"NaN"', '"Infinity"', "9" * 400, "true"]
    ),
    st.floats().map(json.dumps),
    st.floats().map(lambda f: json.dumps(str(f))),
    st.integers().map(str),
    raw_values,
)  # fmt: skip


def beacon_text(create_time: str, bid: str, rest: str) -> str:
    """A beacon's JSON text: its create_time and bid, then the fields of `rest` (an object's text)."""
    head = f'{{"create_time": {create_time}, "bid": {bid}'
    return head + ("}" if rest == "{}" else ", " + rest[1:])


beacons = st.builds(
    beacon_text,
    st.one_of(valid_create_times.map(json.dumps), valid_create_times.map(json.dumps), raw_values),
    bids,
    json_object({"job_id": 7, "publisher_id": 2, "custom_track": "click", "ua": "Mozilla/5.0"}),
)


# Each example is a Spark job: a few large batches rather than many small ones.
@settings(
    max_examples=3,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(batch=st.lists(st.one_of(beacons, beacons, raw_values), min_size=50, max_size=200))
def test_should_give_every_beacon_a_reason_or_a_sane_time_and_bid(batch: list[str], spark: SparkSession) -> None:
    payloads = [text.encode("utf-8", "surrogatepass") for text in batch]
    frame = classify_records(
        records(spark, payloads),
        now=NOW,
        shards=4,
        max_payload_bytes=16_384,
        max_future_seconds=MAX_FUTURE_SECONDS,
        raw_ttl_days=RETENTION_DAYS,
    )
    rows = frame.selectExpr(
        "offset", "reason", "cast(event_time as string) AS event_time", "cast(bucket as string) AS bucket", "bid"
    ).collect()
    assert sorted({r.offset for r in rows}) == list(range(len(payloads))), "every record gives a row"
    oldest, newest = NOW - timedelta(days=RETENTION_DAYS), NOW + timedelta(seconds=MAX_FUTURE_SECONDS)
    for row in rows:
        if row.reason is not None:
            continue
        moment = datetime.fromisoformat(row.event_time)
        assert oldest <= moment <= newest, row
        assert datetime.fromisoformat(row.bucket) == moment.replace(second=0, microsecond=0), row
        assert row.bid is None or (math.isfinite(row.bid) and 0 <= row.bid <= MAX_BID), row
