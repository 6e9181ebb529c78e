"""`python -m jobs replay-rejects`: rejects classified again after a fix become their rows exactly
once, and the rest stay with their reason."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from cassandra.cluster import Session

from .pipeline import Pipeline
from .test_tracking_edges import PLAIN
from .test_tracking_pipeline import assert_matches_oracle, factory


def test_rejects_replayed_after_a_fix_become_rows_once_and_the_rest_stay(
    spark: Any, tmp_path: Path, cassandra: Session
) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    now = datetime.now(timezone.utc)
    recent = list(factory(61, PLAIN).stream(40, now))
    old = list(factory(62, PLAIN).stream(6, now - timedelta(days=100)))  # past the 90-day horizon
    bad = [b'{"create_time": ', b"[1, 2]"]
    pipeline.send_payloads([orjson.dumps(b) for b in recent + old] + bad)
    assert dict(pipeline.ingest().rejected) == {"absurd_time": 6, "bad_json": 2}

    # The horizon lifted, as for a year-old export, and the rejects replayed; twice, as a
    # retried or repeated run would: the second finds only what still does not parse.
    lifted = {"TIDEMARK_TRACKING_RETENTION_DAYS": "0"}
    said = []
    for _ in range(2):
        done = pipeline.run_main("jobs", "replay-rejects", "--stream", "tracking", extra_env=lifted)
        assert done.returncode == 0, done.stderr[-3000:]
        said.append(next(line for line in done.stderr.splitlines() if "rejects became rows" in line))
    assert said[0].endswith("tracking: 6 rejects became rows, 2 stay rejects"), said
    assert said[1].endswith("tracking: 0 rejects became rows, 2 stay rejects"), said

    rejects = list(cassandra.execute(f"SELECT reason, payload FROM {pipeline.name}.rejects"))
    assert sorted((r.reason, bytes(r.payload)) for r in rejects) == sorted(("bad_json", b) for b in bad)
    raw = cassandra.execute(f"SELECT COUNT(*) FROM {pipeline.name}.tracking_raw").one()[0]
    assert raw == len(recent) + len(old)
    pipeline.aggregate()
    pipeline.sent = recent + old
    assert_matches_oracle(pipeline)


def test_rejects_lie_by_record_day_and_keep_a_bounded_payload(spark: Any, tmp_path: Path, cassandra: Session) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    # Yesterday's midnight: both sides of it stay inside Kafka's seven-day retention, which
    # deletes records by their own timestamp, so a fixed calendar date here would age out.
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    days = [midnight - timedelta(seconds=1), midnight]
    for day in days:
        pipeline.send_messages("tracking", [(None, b"{")], timestamp_ms=int(day.timestamp() * 1000))
    kept = pipeline.settings().max_payload_bytes
    # Valid JSON past the size limit: an oversize reject, whose first `kept` bytes are kept.
    huge = orjson.dumps({**next(factory(63, PLAIN).stream(1, datetime.now(timezone.utc))), "pad": "x" * 3 * kept})
    pipeline.send_payloads([huge])
    assert dict(pipeline.ingest().rejected) == {"bad_json": 2, "oversize": 1}

    rows = list(
        cassandra.execute(
            f"SELECT kafka_day, reason, payload, payload_bytes, payload_sha256 FROM {pipeline.name}.rejects"
        )
    )
    bad_json = sorted(str(r.kafka_day) for r in rows if r.reason == "bad_json")
    assert bad_json == [str(day.date()) for day in days], "a reject lies in its record's own day"
    (oversize,) = [r for r in rows if r.reason == "oversize"]
    assert bytes(oversize.payload) == huge[:kept]
    assert (oversize.payload_bytes, oversize.payload_sha256) == (len(huge), hashlib.sha256(huge).hexdigest())

    # With the limit raised the cut payload still cannot be classified again: it is named and left.
    raised = {"TIDEMARK_MAX_PAYLOAD_BYTES": str(4 * kept)}
    done = pipeline.run_main("jobs", "replay-rejects", "--stream", "tracking", extra_env=raised)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "tracking: 0 rejects became rows, 2 stay rejects" in done.stderr
    assert "tracking: 1 rejects kept only part of their payload" in done.stderr
    assert sorted(r.reason for r in cassandra.execute(f"SELECT reason FROM {pipeline.name}.rejects")) == [
        "bad_json",
        "bad_json",
        "oversize",
    ]
