"""The committed bad-input corpus (tests/unit/corpus/) through the real stack, every stream at once.

tests/unit/test_bad_input.py proves each case's verdict on a local Spark; this proves the same
verdicts hold end to end: every case's exact bytes go to its stream's Kafka topic (SCRAM, the
producer's user), good events from the stream's producer follow them, and one real `ingest`
(one query per stream, the clock at the corpus's `now` and its bounds) and `aggregate` run.
Then, per stream:

- every case the corpus rejects is in Cassandra's `rejects` at its topic/partition/offset, with
  its reason (and detail when the corpus names one), its raw bytes (the first
  `TIDEMARK_MAX_PAYLOAD_BYTES` of an oversize one) and the whole payload's size and SHA-256, and
  nothing else is: no good event and no accepted case is rejected;
- every case the corpus accepts is a raw row: the raw table holds exactly the corpus's accepted
  rows plus the good events, by the stream's documented identity (rows with one identity are one
  row), and a case with an identity of its own has its expected fields as Cassandra kept them;
- the good events sent after the bad ones are all in MySQL, exactly as the stream's independent
  oracle (oracles/) counts them: bad input neither stops nor thins the stream.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import Counter
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from cassandra.cluster import Session
from kafka import KafkaProducer
from pyspark.sql import SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from jobs import ingest
from jobs.metrics import RunMetrics
from jobs.streams import STREAMS
from local import kafka_users, stack, topics
from oracles import ads as oracle_ads
from oracles.orders import expected_sales
from oracles.tracking import expected_events
from oracles.userlogs import expected
from producer.ads import AdEventFactory
from producer.orders import OrderFactory, synthetic_customers, upsert_customers
from producer.userlogs import UserLogFactory
from tests.unit import corpus
from tests.unit.corpus import Case

from .conftest import KAFKA, mysql_connect
from .pipeline import Pipeline
from .test_orders_pipeline import sales
from .test_tracking_edges import PLAIN
from .test_tracking_pipeline import factory

CORPORA = {name: corpus.load(name) for name in corpus.streams()}
# One ingest run classifies every stream with one clock and one payload bound: the corpora must
# agree on them (retention is each stream's own setting).
CLOCKS = {(c.placement.now, c.placement.max_payload_bytes, c.placement.max_future_seconds) for c in CORPORA.values()}
assert len(CLOCKS) == 1, CLOCKS
PLACEMENT = next(iter(CORPORA.values())).placement
NOW = PLACEMENT.now  # naive UTC
# Every row the corpus accepts is in the hour before NOW (orders aside, which MySQL sums by
# customer), so the good events go hours earlier: MySQL's rows before CUT are theirs alone, and
# comparing those with the oracle cannot be blurred by a case.
GOOD_AT = NOW - timedelta(hours=3)
GOOD_AT_UTC = GOOD_AT.replace(tzinfo=timezone.utc)  # as the producers take a moment
CUT = NOW - timedelta(hours=1)
GOOD_COUNT = {"tracking": 200, "ads": 200, "orders": 100}
USERLOG_LOOPS = 40  # one session, one auth event, one activity array each
CUSTOMERS = 60
NEXT_ORDER_ID = 100_001  # past every order ID the corpus uses


def retention_overrides() -> dict[str, int]:
    """Each stream family's retention as its corpus assumes it (the userlogs parts share one)."""
    out: dict[str, int] = {}
    for name, c in CORPORA.items():
        key = f"{STREAMS[name].stream}_retention_days"
        assert out.setdefault(key, c.placement.retention_days) == c.placement.retention_days, key
    return out


class CorpusClock(datetime):
    """Ingest's clock, stopped at the corpus's `now`: the verdicts on times (too far ahead, older
    than the retention) are relative to it."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return NOW.replace(tzinfo=timezone.utc).astimezone(tz) if tz is not None else NOW


@dataclass(frozen=True)
class Sent:
    topic: str
    partition: int
    offset: int
    payload: bytes
    case: Case | None  # None: a good event


@dataclass(repr=False)  # its payloads would flood a failure's report
class Run:
    pipeline: Pipeline
    ingested: RunMetrics
    sent: dict[str, list[Sent]] = field(default_factory=dict)
    good: dict[str, list[Any]] = field(default_factory=dict)  # as each oracle takes them
    ingest_failures: dict[str, str] = field(default_factory=dict)  # stream -> its query's exception

    def assert_ingested(self, stream: str) -> None:
        """The stream's ingest query ran to its end: a message that kills it stops the stream."""
        if stream in self.ingest_failures:
            lines = [line.strip() for line in self.ingest_failures[stream].splitlines() if "Error" in line]
            pytest.fail(
                f"ingest of {stream} died on the corpus: {lines[-1] if lines else self.ingest_failures[stream]}"
            )

    def cases(self, stream: str) -> list[Sent]:
        return [s for s in self.sent[stream] if s.case is not None]

    def good_sent(self, stream: str) -> list[Sent]:
        return [s for s in self.sent[stream] if s.case is None]


def send(pipeline: Pipeline, stream: str, messages: list[tuple[bytes | None, bytes]]) -> list[tuple[str, int, int]]:
    """As Pipeline.send_messages, but keeps where each record landed: a reject is keyed by it."""
    topic = f"{pipeline.name}.{stream}"
    topics.ensure(KAFKA, [topic])
    producer = KafkaProducer(**kafka_users.kafka_python(KAFKA, kafka_users.PRODUCER), acks="all", linger_ms=5)
    try:
        futures = [producer.send(topic, key=key, value=value) for key, value in messages]
        producer.flush()
        return [(m.topic, m.partition, m.offset) for m in (f.get(timeout=60) for f in futures)]
    finally:
        producer.close()


def good_messages(stream: str) -> tuple[list[tuple[bytes | None, bytes]], list[Any]]:
    """The stream's producer's messages at GOOD_AT, and the same as its oracle takes them."""
    if stream == "tracking":
        beacons = list(factory(61, PLAIN).stream(GOOD_COUNT[stream], GOOD_AT_UTC, spread=timedelta(minutes=30)))
        return [(None, orjson.dumps(b)) for b in beacons], beacons
    if stream == "ads":
        messages = list(AdEventFactory(seed=62, ads=12, duplicate_rate=0).stream(GOOD_COUNT[stream], GOOD_AT_UTC))
        return messages, [value for _, value in messages]
    if stream == "orders":
        factory_ = OrderFactory(customers=CUSTOMERS, seed=63, old_rate=0, duplicate_rate=0, next_id=NEXT_ORDER_ID)
        values = list(factory_.stream(GOOD_COUNT[stream], GOOD_AT_UTC))
        return [(None, v) for v in values], values
    part = stream.removeprefix("userlogs_")
    parts = [(p, v) for p, v in UserLogFactory(seed=64).stream(USERLOG_LOOPS, GOOD_AT_UTC) if p == part]
    return [(None, v) for _, v in parts], parts


@pytest.fixture(scope="module")
def run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    pipeline = Pipeline(spark, tmp_path_factory.mktemp("bad_input"), streams=("tracking", "ads", "orders", "userlogs"))
    pipeline.migrate()
    customers = synthetic_customers(CUSTOMERS, seed=63)
    shop = mysql_connect(f"{pipeline.name}_shop", stack.PRODUCER_USER, stack.PRODUCER_PASSWORD)
    try:
        upsert_customers(shop, customers)
    finally:
        shop.close()
    pipeline.customers = {c["ID"]: (c["Source"], c["State"]) for c in customers}
    sent: dict[str, list[Sent]] = {}
    good: dict[str, list[Any]] = {}
    for stream, c in CORPORA.items():
        messages, good[stream] = good_messages(stream)
        # Every case first, then the good events: on each partition they come after the bad ones.
        payloads: list[tuple[Case | None, bytes | None, bytes]] = [(case, None, case.payload) for case in c.cases]
        payloads += [(None, key, value) for key, value in messages]
        landed = send(pipeline, stream, [(key, value) for _, key, value in payloads])
        sent[stream] = [Sent(*at, value, case) for (case, _, value), at in zip(payloads, landed, strict=True)]
    overrides = {
        "max_payload_bytes": PLACEMENT.max_payload_bytes,
        "max_future_seconds": PLACEMENT.max_future_seconds,
        **retention_overrides(),
    }
    ingested = RunMetrics("ingest")
    queries: dict[str, StreamingQuery] = {}

    def start(spark_: SparkSession, settings: Any, spec: Any, metrics: RunMetrics, sweeps: Any) -> StreamingQuery:
        queries[spec.name] = query = real_start(spark_, settings, spec, metrics, sweeps)
        return query

    real_start = ingest.start
    error: Exception | None = None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ingest, "datetime", CorpusClock)
        patch.setattr(ingest, "start", start)  # to see each stream's own query
        try:
            ingest.run(pipeline.settings(**overrides), spark, ingested)
        except Exception as e:  # noqa: BLE001 - a query died: which one is read below
            error = e
        # A query that died is its stream's failure, not every stream's: the others run to their
        # end and are checked all the same.
        failures: dict[str, str] = {}
        for name, query in queries.items():
            with contextlib.suppress(Exception):  # its exception() says what
                query.awaitTermination()
            if query.exception() is not None:
                failures[name] = str(query.exception())
    if error is not None and not failures:
        raise error
    assert set(queries) == set(CORPORA), "an ingest query for every stream"
    pipeline.aggregate()
    yield Run(pipeline, ingested, sent, good, failures)


STREAM_NAMES = sorted(CORPORA)


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_each_rejected_case_is_in_rejects_with_its_reason_bytes_and_offset(
    stream: str, run: Run, cassandra: Session
) -> None:
    run.assert_ingested(stream)
    cases = run.cases(stream)
    assert {s.payload for s in cases} == {c.payload for c in CORPORA[stream].cases}, "every case was sent"
    topic = f"{run.pipeline.name}.{stream}"
    rows = cassandra.execute(
        f"SELECT stream, topic, partition, offset, reason, detail, payload, payload_bytes, payload_sha256 "
        f"FROM {run.pipeline.name}.rejects"
    )
    kept = run.pipeline.settings().max_payload_bytes
    # What a pending case does today is not its verdict: its offset is left out either way.
    pending = {(s.partition, s.offset) for s in cases if s.case is not None and s.case.pending}
    got = {(r.partition, r.offset): r for r in rows if r.topic == topic and (r.partition, r.offset) not in pending}
    want = {(s.partition, s.offset): s for s in cases if s.case is not None and s.case.reject and not s.case.pending}
    # Exactly the rejected cases: a good event or an accepted case in rejects fails here.
    unexpected = {k: (got[k].reason, bytes(got[k].payload or b"")[:80]) for k in set(got) - set(want)}
    missing = {k: want[k].case.name for k in set(want) - set(got) if want[k].case is not None}
    assert not unexpected and not missing, {"unexpected": unexpected, "missing": missing}
    for key, s in want.items():
        assert s.case is not None
        row = got[key]
        assert (row.stream, row.reason) == (stream, s.case.reject), s.case.name
        # The exact bytes it was sent, the first `kept` of an oversize one, and the whole one's
        # size and digest.
        assert bytes(row.payload or b"") == s.payload[:kept], f"{s.case.name}: a reject keeps the bytes it was sent"
        assert (row.payload_bytes, row.payload_sha256) == (len(s.payload), hashlib.sha256(s.payload).hexdigest())
        if s.case.detail is not None:
            assert row.detail == s.case.detail, s.case.name
    # The run's metrics (what the reject alerts read) count the same.
    reasons = Counter(s.case.reject for s in want.values() if s.case is not None)
    counted = {reason: n for (name, reason), n in run.ingested.rejected_by_stream.items() if name == stream}
    if not pending:
        assert counted == dict(reasons)


def identity(stream: str, payload: bytes) -> Hashable:
    """A message's identity as each stream documents it (its raw table's key): rows of one
    identity are one raw row, the last write winning."""
    if stream == "ads":
        return payload  # the message as written: schema id and bytes
    body = json.loads(payload)
    if stream == "tracking":
        return str(body["create_time"]).strip().lower()
    if stream == "orders":
        return int(body["ID"])
    if stream == "userlogs_session":
        return str(body["session_id"]).lower()
    return json.dumps(body, sort_keys=True)  # auth: the whole record; activity: the whole message


def raw_keys(stream: str, payload: bytes, rows: int) -> set[tuple[Hashable, int]]:
    # An activity message gives a row per good element, each keyed by the message and its index.
    return {(identity(stream, payload), i) for i in range(rows)}


def good_rows(stream: str, payload: bytes) -> int:
    return len(json.loads(payload)) if stream == "userlogs_activity" else 1


def same(got: Any, want: Any) -> bool:
    if isinstance(got, datetime) and isinstance(want, str):
        # Written as Spark prints a timestamp; Cassandra keeps milliseconds.
        moment = datetime.fromisoformat(want)
        return got == moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if isinstance(got, Decimal) and isinstance(want, float):
        return got == Decimal(repr(want))
    return bool(got == want)


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_each_accepted_case_and_good_event_is_a_raw_row(stream: str, run: Run, cassandra: Session) -> None:
    run.assert_ingested(stream)
    spec = STREAMS[stream]
    accepted = [s for s in run.cases(stream) if s.case is not None and s.case.accept and not s.case.pending]
    case_keys = {s.case.name: raw_keys(stream, s.payload, len(s.case.accept)) for s in accepted if s.case is not None}
    good_keys = set().union(*(raw_keys(stream, s.payload, good_rows(stream, s.payload)) for s in run.good_sent(stream)))
    corpus_keys = set().union(*case_keys.values())
    assert not corpus_keys & good_keys, "a good event shares an identity with a case"
    rows = [r._asdict() for r in cassandra.execute(f"SELECT * FROM {run.pipeline.name}.{spec.raw_table}")]
    want = len(corpus_keys | good_keys)
    if any(s.case is not None and s.case.pending for s in run.cases(stream)):
        assert len(rows) >= want  # a pending case may add rows today
    else:
        assert len(rows) == want, {
            "raw rows": len(rows),
            "accepted case rows": len(corpus_keys),
            "good": len(good_keys),
        }
    # A case whose identity no other case shares is its own row(s): its fields must be there as
    # Cassandra kept them. (Cases of one identity overwrite each other; the count covers them.)
    shared = Counter(key for keys in case_keys.values() for key in keys)
    for s in accepted:
        assert s.case is not None
        if any(shared[key] > 1 for key in case_keys[s.case.name]):
            continue
        for mapping, times in Counter(orjson.dumps(m, default=str) for m in s.case.accept).items():
            fields = next(m for m in s.case.accept if orjson.dumps(m, default=str) == mapping)
            unknown = set(fields) - set(spec.raw_columns)
            assert not unknown, (s.case.name, unknown)
            matching = [r for r in rows if all(same(r[k], v) for k, v in fields.items())]
            assert len(matching) >= times, (s.case.name, fields, len(matching))


def before_cut(moment: datetime) -> bool:
    return GOOD_AT - timedelta(days=1) < moment < CUT


def assert_same_keys(got: dict[Any, Any], want: dict[Any, Any]) -> None:
    assert want, "the oracle expects nothing: the good events are missing"
    assert set(got) == set(want), {
        "missing": sorted(set(want) - set(got), key=str)[:5],
        "unexpected": sorted(set(got) - set(want), key=str)[:5],
    }


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_the_good_events_after_the_bad_ones_are_all_counted_in_mysql(stream: str, run: Run) -> None:
    run.assert_ingested(stream)
    p = run.pipeline
    good = run.good[stream]
    if stream == "tracking":
        want_events = expected_events(good)
        assert all(before_cut(datetime.combine(k[1], time(k[2]))) for k in want_events)
        got_events = {k: v for k, v in p.events().items() if before_cut(datetime.combine(k[1], time(k[2])))}
        assert_same_keys(got_events, want_events)
        assert {k: got_events[k] for k in want_events} == want_events
    elif stream == "ads":
        want_windows = oracle_ads.expected_windows(good)
        assert all(before_cut(start) for _, start in want_windows)
        got_windows = {k: v for k, v in p.ad_windows().items() if before_cut(k[1])}
        assert_same_keys(got_windows, want_windows)
        for key, window in got_windows.items():
            assert window == {c: want_windows[key][c] for c in window}, key
    elif stream == "orders":
        # Sales are by customer, not by time: the accepted cases (distinct order IDs, known or
        # unknown customers) are counted with the good orders, as the oracle reads them.
        accepted = [s.payload for s in run.cases(stream) if s.case is not None and s.case.accept]
        want_sales = expected_sales([*accepted, *good], p.customers)
        got_sales = sales(p)
        assert_same_keys(got_sales, want_sales)
        for group, (total, count) in want_sales.items():
            assert got_sales[group][1] == count, group
            assert abs(got_sales[group][0] - total) <= Decimal("1e-6"), (group, got_sales[group][0], total)
    else:
        got_hours, want_hours = userlogs_hourly(p, stream, good)
        assert all(before_cut(hour_of(k)) for k in want_hours)
        got_hours = {k: v for k, v in got_hours.items() if before_cut(hour_of(k))}
        assert_same_keys(got_hours, want_hours)
        assert got_hours == want_hours


def userlogs_hourly(p: Pipeline, stream: str, good: list[tuple[str, bytes]]) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """A userlogs part's hourly rollup in MySQL, and as the oracle counts the good messages."""
    want = expected(good)
    if stream == "userlogs_session":
        rows = p.sql("SELECT hour, sessions, avg_duration_seconds FROM user_sessions_hourly")
        return {r[0]: (r[1], r[2]) for r in rows}, dict(want.sessions_hourly())
    if stream == "userlogs_auth":
        rows = p.sql("SELECT hour, outcome, detail, events FROM user_auth_hourly")
        return {(r[0], r[1], r[2]): r[3] for r in rows}, dict(want.auth_hourly())
    rows = p.sql("SELECT hour, event_type, events FROM user_activity_hourly")
    return {(r[0], r[1]): r[2] for r in rows}, dict(want.activity_hourly())


def hour_of(key: Any) -> datetime:
    return key if isinstance(key, datetime) else key[0]


def test_the_corpus_is_all_sent_and_the_good_events_come_after_it(run: Run) -> None:
    """Each partition's good events follow its bad ones: the stream had to get past them."""
    for stream, sent in run.sent.items():
        assert len(sent) == len(CORPORA[stream].cases) + len(run.good[stream]), stream
        last_case: dict[int, int] = {}
        for s in sent:
            if s.case is not None:
                last_case[s.partition] = max(last_case.get(s.partition, -1), s.offset)
        assert all(s.offset > last_case.get(s.partition, -1) for s in sent if s.case is None), stream
