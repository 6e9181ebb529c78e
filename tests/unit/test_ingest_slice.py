"""What one aggregation after a micro-batch recomputes: the stream's newest dirty buckets each
batch, its older ones (late events, a backfill) at most every so often."""

from __future__ import annotations

import itertools

from jobs.aggregate import Slice, chunk_sizes
from jobs.ingest import LateSweeps


def test_should_take_the_fresh_buckets_then_late_chunks_only_when_the_sweep_is_due() -> None:
    assert list(chunk_sizes(60, Slice(fresh=2, late=False, chunks=3))) == [2]
    assert list(chunk_sizes(60, Slice(fresh=2, late=True, chunks=3))) == [2, 60, 60, 60]


def test_should_go_on_until_nothing_is_left_without_a_slice() -> None:
    assert list(itertools.islice(chunk_sizes(60, None), 5)) == [60] * 5


def test_should_sweep_at_once_then_at_most_every_interval_per_stream() -> None:
    sweeps = LateSweeps(60)
    assert sweeps.due("ads", 1000.0)
    sweeps.swept("ads", 1000.0)
    assert not sweeps.due("ads", 1059.9)
    assert sweeps.due("orders", 1059.9)  # each stream its own
    assert sweeps.due("ads", 1060.0)


def test_should_sweep_every_batch_at_zero() -> None:
    sweeps = LateSweeps(0)
    sweeps.swept("ads", 1000.0)
    assert sweeps.due("ads", 1000.0)
