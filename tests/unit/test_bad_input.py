"""The committed bad-input corpus (tests/unit/corpus/) through each stream's real classification.

Each stream's whole corpus is one batch, with a few good messages from the stream's producer
around it, classified once by the stream's own `classify` on a local Spark with the corpus's
placement (the fixed `now` and bounds). Every case must get exactly its verdict, a reject must
keep its raw bytes, and the batch must give exactly the good rows and the expected rejects:
bad messages never stop or thin the stream.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta, timezone
from typing import Any

import orjson
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.spec import Placement, Reject
from jobs.streams import STREAMS
from jobs.streams.ads import parse as parse_ad
from jobs.streams.orders import parse as parse_order
from jobs.streams.userlogs import parse_activity, parse_auth, parse_session

from . import corpus
from .conftest import records
from .corpus import Case, Corpus

PARSES: dict[str, Callable[[bytes], Any]] = {
    "ads": parse_ad,
    "orders": parse_order,
    "userlogs_session": parse_session,
    "userlogs_auth": parse_auth,
    "userlogs_activity": parse_activity,
}
CORPORA = {name: corpus.load(name) for name in corpus.streams()}
CASES = [case for c in CORPORA.values() for case in c.cases]
GOOD_PER_BATCH = 4


def test_should_have_a_corpus_of_at_least_15_cases_for_every_stream() -> None:
    assert set(CORPORA) == set(STREAMS)
    assert {name: len(c.cases) for name, c in CORPORA.items() if len(c.cases) < 15} == {}


def good_messages(stream: str, corpus_: Corpus) -> list[bytes]:
    """A few messages as the stream's producer sends them, at the corpus's `now`."""
    now = corpus_.placement.now.replace(tzinfo=timezone.utc)
    if stream == "tracking":
        from producer.beacons import BeaconFactory, Mix
        from producer.catalog import synthetic_catalog

        mix = Mix(late_rate=0, duplicate_rate=0)
        beacons = BeaconFactory(synthetic_catalog(20, 4, 3), mix, 3).stream(GOOD_PER_BATCH, now, timedelta(minutes=5))
        return [orjson.dumps(b) for b in beacons]
    if stream == "ads":
        from producer.ads import AdEventFactory

        return [value for _, value in AdEventFactory(seed=3, duplicate_rate=0).stream(GOOD_PER_BATCH, now)]
    if stream == "orders":
        from producer.orders import OrderFactory

        return list(OrderFactory(seed=3, duplicate_rate=0).stream(GOOD_PER_BATCH, now))
    from producer.userlogs import UserLogFactory

    part = stream.removeprefix("userlogs_")
    sent = UserLogFactory(seed=3).stream(GOOD_PER_BATCH * 3, now)
    return [value for p, value in sent if p == part][:GOOD_PER_BATCH]


class Batch:
    """One stream's corpus and good messages, classified together once."""

    def __init__(self, spark: SparkSession, stream: str) -> None:
        self.corpus = CORPORA[stream]
        self.good = good_messages(stream, self.corpus)
        # The good messages around and among the bad ones, in a fixed shuffle.
        cases = self.corpus.cases
        entries = [("case", i) for i in range(len(cases))] + [("good", j) for j in range(len(self.good))]
        random.Random(stream).shuffle(entries)
        payloads = [cases[i].payload if kind == "case" else self.good[i] for kind, i in entries]
        self.case_offset = {cases[i].name: offset for offset, (kind, i) in enumerate(entries) if kind == "case"}
        self.good_offsets = [entries.index(("good", j)) for j in range(len(self.good))]
        p = self.corpus.placement
        placement = Placement(p.now, 4, p.max_payload_bytes, p.max_future_seconds, p.retention_days)
        frame = STREAMS[stream].classify(records(spark, payloads), placement)
        # Timestamps as text: a year-1 time (kept by a stream without a lower bound) cannot be
        # turned into a Python datetime in every zone.
        frame = frame.withColumn("event_time", F.col("event_time").cast("string")).withColumn(
            "bucket", F.col("bucket").cast("string")
        )
        self.rows = [row.asDict() for row in frame.collect()]

    def rows_at(self, offset: int) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["offset"] == offset]


@pytest.fixture(scope="module")
def batches(spark: SparkSession) -> dict[str, Batch]:
    return {}


def batch_of(batches: dict[str, Batch], spark: SparkSession, stream: str) -> Batch:
    if stream not in batches:
        batches[stream] = Batch(spark, stream)
    return batches[stream]


def check_case(case: Case, rows: list[dict[str, Any]]) -> None:
    rejects = [r for r in rows if r["reason"] is not None]
    accepted = [r for r in rows if r["reason"] is None]
    got = {
        "reject": [(r["reason"], r["detail"]) for r in rejects],
        "accepted rows": len(accepted),
    }
    want_rejects = [case.reject] if case.reject else []
    assert [r["reason"] for r in rejects] == want_rejects, got
    if case.reject and case.detail is not None:
        assert rejects[0]["detail"] == case.detail, got
    for reject in rejects:
        assert reject["payload"] == case.payload, "a reject keeps the raw bytes it was given"
    assert len(accepted) == len(case.accept), got
    for row, want in zip(sorted(accepted, key=_row_order), case.accept, strict=True):
        off = {k: (row.get(k, "<no such column>"), v) for k, v in want.items() if row.get(k) != v}
        assert not off, f"accepted, but fields differ (got, want): {off}"


def _row_order(row: dict[str, Any]) -> Any:
    return row.get("event_index", 0)


def _param(case: Case) -> Any:
    marks = [pytest.mark.xfail(reason=f"pending: today {case.pending}", strict=True)] if case.pending else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_should_give_each_case_its_verdict(case: Case, batches: dict[str, Batch], spark: SparkSession) -> None:
    batch = batch_of(batches, spark, case.stream)
    check_case(case, batch.rows_at(batch.case_offset[case.name]))


@pytest.mark.parametrize("stream", sorted(CORPORA))
def test_should_keep_every_good_message_of_a_batch_full_of_bad_ones(
    stream: str, batches: dict[str, Batch], spark: SparkSession
) -> None:
    batch = batch_of(batches, spark, stream)
    for offset in batch.good_offsets:
        rows = batch.rows_at(offset)
        assert rows and all(r["reason"] is None for r in rows), rows
    # The whole batch: exactly the good rows and the expected rejects, nothing else.
    want: Counter[tuple[int, str | None]] = Counter()
    for offset, payload in zip(batch.good_offsets, batch.good, strict=True):
        parse = PARSES.get(stream)
        good_rows = 1 if parse is None else len(parse(payload))
        want[(offset, None)] += good_rows
    for case in batch.corpus.cases:
        if case.pending:
            continue
        offset = batch.case_offset[case.name]
        want[(offset, None)] += len(case.accept)
        if case.reject:
            want[(offset, case.reject)] += 1
    pending = {batch.case_offset[c.name] for c in batch.corpus.cases if c.pending}
    got = Counter((r["offset"], r["reason"]) for r in batch.rows if r["offset"] not in pending)
    assert got == want, {"unexpected": got - want, "missing": want - got}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES if c.stream in PARSES])
def test_should_never_raise_in_a_python_parse(case: Case) -> None:
    got = PARSES[case.stream](case.payload)
    assert isinstance(got, Reject) or (isinstance(got, list) and all(isinstance(r, dict | Reject) for r in got))
