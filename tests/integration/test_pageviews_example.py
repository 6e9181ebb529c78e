"""The example stream (examples/streams/pageviews.py), loaded only through
TIDEMARK_EXTRA_STREAMS, runs through `python -m jobs migrate|ingest|aggregate --stream pageviews`
on the real stack and matches a count made here from what was sent."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from cassandra.cluster import Session

from jobs.streams import STREAMS

from .pipeline import Pipeline

PAGES = ("/", "/jobs", "/jobs/42", "/über-uns", "/search?q=a%20b")


def views(seed: int, count: int, now: datetime) -> list[tuple[str, str, datetime]]:
    """(page, user, instant) of `count` distinct views over the last three hours, to the ms."""
    rng = random.Random(seed)
    seen: set[tuple[str, str, datetime]] = set()
    while len(seen) < count:
        moment = now - timedelta(milliseconds=rng.randrange(3 * 3600 * 1000))
        seen.add(
            (
                rng.choice(PAGES),
                f"user-{rng.randrange(40)}",
                moment.replace(microsecond=moment.microsecond // 1000 * 1000),
            )
        )
    return sorted(seen)


def message(page: str, user: str, moment: datetime, zone_hours: int) -> bytes:
    """A view as a producer writes it, its time in the zone `zone_hours` east of UTC."""
    local = moment.astimezone(timezone(timedelta(hours=zone_hours)))
    return orjson.dumps({"page": page, "user": user, "ts": local.isoformat(timespec="milliseconds")})


def test_the_example_stream_runs_from_its_one_file_and_counts_exactly(
    spark: Any, tmp_path: Path, cassandra: Session
) -> None:
    assert "pageviews" not in STREAMS, "nothing outside examples/ registers it"
    pipeline = Pipeline(spark, tmp_path)
    topic = f"{pipeline.name}.pageviews"
    extra = {"TIDEMARK_EXTRA_STREAMS": "examples.streams.pageviews", "TIDEMARK_PAGEVIEWS_TOPIC": topic}
    now = datetime.now(timezone.utc)
    sent = views(7, 600, now)
    good = [message(page, user, moment, zone_hours=i % 5 - 2) for i, (page, user, moment) in enumerate(sent)]
    # Each of the first 50 again, its time written in another zone: the same view, counted once.
    again = [message(page, user, moment, zone_hours=9) for page, user, moment in sent[:50]]
    bad = {
        b"{": "bad_json",
        b'["/", "u", "2026-12-06T10:00:00Z"]': "wrong_shape",
        b'{"page": "/", "user": "u", "ts": "2026-12-06T10:00:00"}': "bad_timestamp",  # no zone
        b'{"page": "", "user": "u", "ts": "2026-12-06T10:00:00Z"}': "bad_page",
        b'{"page": "/", "user": 7, "ts": "2026-12-06T10:00:00Z"}': "bad_user",
        orjson.dumps({"page": "/" + "x" * 300, "user": "u", "ts": "2026-12-06T10:00:00Z"}): "too_long",
    }
    pipeline.send_messages("pageviews", [(None, m) for m in [*good, *again, *bad]])

    logs = {}
    for job in ("migrate", "ingest", "aggregate"):
        done = pipeline.run_main("jobs", job, "--stream", "pageviews", extra_env=extra)
        assert done.returncode == 0, f"{job}: {done.stderr[-3000:]}"
        logs[job] = done.stderr
    assert "pageviews batch 0: 650 raw, 6 rejected" in logs["ingest"], logs["ingest"][-3000:]
    raw = cassandra.execute(f"SELECT COUNT(*) FROM {pipeline.name}.pageviews_raw").one()[0]
    assert raw == len(sent), "a view sent twice is one raw row"

    expected = Counter(
        (moment.replace(minute=0, second=0, microsecond=0, tzinfo=None), page) for page, _, moment in sent
    )
    got = {(hour, page): views for hour, page, views in pipeline.sql("SELECT hour, page, views FROM pageviews_hourly")}
    assert got == dict(expected)
    rejects = cassandra.execute(f"SELECT reason, payload FROM {pipeline.name}.rejects")
    assert sorted((r.reason, bytes(r.payload)) for r in rejects) == sorted((reason, m) for m, reason in bad.items())
