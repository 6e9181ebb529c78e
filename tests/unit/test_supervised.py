"""The continuous driver starts a failed stream's query again, and stops when one ends cleanly."""

from __future__ import annotations

from typing import Any

from jobs.supervision import Supervised, restart_delay


class Query:
    """What Supervised reads of a StreamingQuery."""

    def __init__(self, error: Exception | None = None, *, active: bool = True) -> None:
        self.isActive = active
        self.error = error
        self.lastProgress: dict[str, Any] | None = None

    def exception(self) -> Exception | None:
        return self.error

    def fail(self, error: Exception) -> None:
        self.isActive, self.error = False, error


def test_a_failed_query_starts_again_after_its_wait_and_the_wait_doubles() -> None:
    started: list[Query] = []

    def start() -> Query:
        started.append(Query())
        return started[-1]

    stream = Supervised("orders", start)  # type: ignore[arg-type]
    started[0].fail(RuntimeError("All 1 node(s) tried for the query failed\n\tat com.datastax…"))
    assert stream.check(100.0)
    assert stream.retry_at == 105.0 and len(started) == 1
    assert stream.check(104.9) and len(started) == 1
    assert stream.check(105.0) and len(started) == 2 and stream.restarts == 1
    started[1].fail(RuntimeError("again"))
    assert stream.check(106.0) and stream.retry_at == 116.0, "the second failure in a row waits 10 s"
    assert stream.check(116.0) and len(started) == 3
    started[2].lastProgress = {"timestamp": "2026-12-07T02:00:00.000Z"}
    assert stream.check(117.0) and stream.failures == 0, "progress ends the run of failures"
    assert stream.progress() == {"timestamp": "2026-12-07T02:00:00.000Z"}


def test_a_query_that_cannot_start_again_waits_longer_and_tries_again() -> None:
    attempts: list[int] = []

    def start() -> Query:
        attempts.append(len(attempts))
        if len(attempts) == 2:
            raise RuntimeError("Kafka does not answer")
        return Query()

    stream = Supervised("ads", start)  # type: ignore[arg-type]
    stream.query.fail(RuntimeError("a batch failed"))  # type: ignore[attr-defined]
    assert stream.check(0.0) and stream.retry_at == 5.0
    assert stream.check(5.0) and stream.retry_at == 15.0 and stream.restarts == 0, "the failed start waits 10 s"
    assert stream.check(15.0) and stream.query.isActive and stream.restarts == 1


def test_a_query_stopped_without_failing_stops_the_driver() -> None:
    stream = Supervised("tracking", lambda: Query(active=False))  # type: ignore[arg-type, return-value]
    assert not stream.check(0.0)


def test_the_wait_is_at_most_a_minute() -> None:
    assert [restart_delay(n) for n in (1, 2, 3, 4, 5, 6, 9)] == [5, 10, 20, 40, 60, 60, 60]
