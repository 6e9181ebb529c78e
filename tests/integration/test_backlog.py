"""Ingest's own aggregation after a big backfill: a bounded slice per micro-batch, newest
buckets first, so a batch stays short and fresh data stays fresh; the aggregate job works
through the backlog."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cassandra.cluster import Session

from jobs import ingest
from jobs.ingest import LateSweeps
from jobs.metrics import RunMetrics
from oracles.tracking import event_time

from .pipeline import Pipeline
from .test_tracking_edges import PLAIN
from .test_tracking_pipeline import assert_matches_oracle, factory


def test_a_micro_batch_aggregates_a_newest_first_slice_of_a_backlog(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    # Three hours of history marked dirty (180 one-minute buckets), ending an hour ago.
    pipeline.backfill((now - timedelta(hours=4)).isoformat(), (now - timedelta(hours=1)).isoformat())
    fresh = list(factory(71, PLAIN).stream(30, now - timedelta(minutes=3), spread=timedelta(minutes=2)))
    pipeline.send(fresh)

    ingested = pipeline.ingest(
        ingest_aggregates=True, ingest_fresh_buckets=2, ingest_aggregate_chunks=1, aggregate_chunk_buckets=10
    )

    marked = ingested.buckets_recomputed  # the fresh events' buckets, a few minutes
    dirty = [bucket for (bucket,) in pipeline.sql("SELECT bucket FROM dirty_buckets WHERE stream = 'tracking'")]
    assert 2 < marked < 10
    # The two newest, then (a driver's first batch sweeps) one chunk of ten of the others.
    assert len(dirty) == 180 + marked - 2 - 10, "the rest left for the aggregate job"
    assert max(dirty) < (now - timedelta(hours=1)).replace(tzinfo=None), "the newest buckets went first"
    assert_matches_oracle(pipeline)  # every fresh event is in MySQL already

    pipeline.aggregate()
    assert not pipeline.sql("SELECT bucket FROM dirty_buckets WHERE stream = 'tracking'")
    assert_matches_oracle(pipeline)


def bucket_of(beacon: dict[str, Any]) -> datetime:
    return event_time(beacon["create_time"]).replace(second=0, microsecond=0, tzinfo=None)


def test_late_buckets_wait_for_the_sweep_the_newest_do_not(spark: Any, tmp_path: Path) -> None:
    """Late events spread a batch over many buckets: each batch recomputes only the newest,
    and the older ones join at most every TIDEMARK_INGEST_LATE_AGGREGATE_SECONDS."""
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    first = list(factory(72, PLAIN).stream(20, now - timedelta(minutes=40), spread=timedelta(minutes=5)))
    # The second batch: late events of ten minutes, and the newest ones of the last minute.
    late = list(factory(73, PLAIN).stream(20, now - timedelta(minutes=30), spread=timedelta(minutes=10)))
    newest = list(factory(74, PLAIN).stream(5, now - timedelta(minutes=1), spread=timedelta(seconds=50)))
    pipeline.send(first)
    pipeline.ingest(ingest_aggregates=True, ingest_fresh_buckets=1)  # swept: nothing left dirty
    assert not pipeline.sql("SELECT bucket FROM dirty_buckets WHERE stream = 'tracking'")
    pipeline.send(late + newest)
    # A driver that swept a moment ago: the next sweep is not due for an hour.
    sweeps = LateSweeps(3600)
    sweeps.swept("tracking", time.monotonic())
    newest_buckets = {bucket_of(b) for b in newest}
    settings = pipeline.settings(
        ingest_aggregates=True, ingest_fresh_buckets=len(newest_buckets), ingest_late_aggregate_seconds=3600
    )
    ingest.run(settings, spark, RunMetrics("ingest"), sweeps=sweeps)

    late_buckets = {bucket_of(b) for b in late}
    assert max(late_buckets) < min(newest_buckets)
    dirty = {bucket for (bucket,) in pipeline.sql("SELECT bucket FROM dirty_buckets WHERE stream = 'tracking'")}
    assert dirty == late_buckets, "every late bucket waits for the sweep"
    newest_visible = pipeline.sql("SELECT newest_event_time FROM watermarks WHERE stream = 'tracking'")[0][0]
    assert newest_visible == max(event_time(b["create_time"]) for b in newest).replace(tzinfo=None)

    pipeline.aggregate()
    assert_matches_oracle(pipeline)


def test_a_backfill_leaves_buckets_past_the_raw_retention_as_they_are(
    spark: Any, tmp_path: Path, cassandra: Session
) -> None:
    """Aggregates of hours whose raw rows expired are right and cannot be recomputed: a
    backfill over them marks only the buckets inside the retention, and names the rest."""
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    now = datetime.now(timezone.utc)
    old = list(factory(81, PLAIN).stream(30, now - timedelta(days=3), spread=timedelta(minutes=10)))
    recent = list(factory(82, PLAIN).stream(30, now - timedelta(hours=2), spread=timedelta(minutes=10)))
    pipeline.send(old + recent)
    pipeline.ingest(tracking_retention_days=0)  # an export replayed with the horizon lifted
    pipeline.aggregate()
    assert_matches_oracle(pipeline)
    # The old events' raw rows expire (simulated: deleted, bucket by bucket).
    buckets = {event_time(b["create_time"]).replace(second=0, microsecond=0, tzinfo=None) for b in old}
    for bucket in buckets:
        for shard in range(pipeline.settings().shards):
            cassandra.execute(
                f"DELETE FROM {pipeline.name}.tracking_raw WHERE bucket = %s AND shard = %s", (bucket, shard)
            )

    backfilled = pipeline.backfill((now - timedelta(days=4)).isoformat(), now.isoformat(), tracking_retention_days=1)

    # One day of one-minute buckets, not four (the minute the horizon falls in is not marked).
    assert 24 * 60 - 1 <= backfilled.buckets_recomputed <= 24 * 60
    pipeline.aggregate()
    assert_matches_oracle(pipeline)  # the old hours are as they were
