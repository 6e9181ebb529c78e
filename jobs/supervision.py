"""The continuous driver's supervision of its streams' queries: a failed one starts again from
its checkpoint while the others go on, and a heartbeat tells the liveness probe whether every
stream is making progress."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql.streaming.query import StreamingQuery

from jobs.alive import stalled
from jobs.metrics import RunMetrics
from jobs.settings import JobSettings

log = logging.getLogger("tidemark.ingest")


# A failed query starts again after 5 s, then 10, 20, … at most a minute while it keeps failing.
RESTART_FIRST_SECONDS = 5
RESTART_MOST_SECONDS = 60


def restart_delay(failures: int) -> float:
    """Seconds before a query that failed `failures` times in a row starts again."""
    return float(min(RESTART_MOST_SECONDS, RESTART_FIRST_SECONDS * 2 ** (failures - 1)))


class Supervised:
    """One stream's query in the continuous driver. A query that fails (a store that did not
    answer, a batch that could not finish) starts again from its checkpoint, so its failed
    batch is read again, while the other streams go on; the wait doubles while it keeps
    failing. A stream that makes no progress for `TIDEMARK_INGEST_STALL_SECONDS`, failing or
    not, stops the heartbeat, and the liveness probe restarts the driver."""

    def __init__(self, name: str, start: Callable[[], StreamingQuery]) -> None:
        self.name = name
        self._start = start
        self.query = start()
        self.failures = 0  # in a row
        self.restarts = 0
        self.retry_at: float | None = None
        self._progress: dict[str, Any] | None = None

    def progress(self) -> dict[str, Any] | None:
        """The last progress of any of the stream's queries."""
        if self.query.lastProgress:
            self._progress = self.query.lastProgress
        return self._progress

    def check(self, now: float) -> bool:
        """Starts a failed query again once its wait is over. False when the query stopped
        without failing: the driver is stopping."""
        if self.query.isActive:
            if self.failures and self.query.lastProgress:
                self.failures = 0
            return True
        if self.retry_at is None:
            error = self.query.exception()
            if error is None:
                return False
            self._failed(error, now)
        elif now >= self.retry_at:
            self.progress()
            try:
                query = self._start()
            except Exception as e:  # noqa: BLE001 - Kafka not answering at start is one more failure
                self._failed(e, now)
                return True
            self.query, self.retry_at = query, None
            self.restarts += 1
            log.info("%s: query started again (%d restarts so far)", self.name, self.restarts)
        return True

    def _failed(self, error: BaseException, now: float) -> None:
        self.failures += 1
        self.retry_at = now + restart_delay(self.failures)
        first = str(error).strip().splitlines()[0][:500] if str(error).strip() else type(error).__name__
        log.error(
            "%s: its query failed (%s); starting it again from its checkpoint in %.0fs",
            self.name,
            first,
            self.retry_at - now,
        )


def heartbeat(
    queries: list[Supervised], settings: JobSettings, metrics: RunMetrics, each: Callable[[], None] | None = None
) -> None:
    """While the queries run, starts a failed one again (Supervised) and pushes the run's
    metrics so far each interval: a driver that never ends still shows its last success (its
    alert reads it) and what it has done. It touches the liveness file (jobs/alive.py) while no
    query is stalled, and runs `each`. Returns once a query stopped without failing."""
    started = time.time()
    alive = Path(settings.ingest_alive_file) if settings.ingest_alive_file else None
    while all([query.check(time.time()) for query in queries]):
        if each is not None:
            each()
        for query in queries:
            metrics.stream_values[query.name, "query_restarts"] = query.restarts
        metrics.push(settings.pushgateway, ok=True)
        now = time.time()
        stuck = [q.name for q in queries if stalled(q.progress(), started, now, settings.ingest_stall_seconds)]
        if stuck:
            log.warning("no progress for %ds: %s", settings.ingest_stall_seconds, ", ".join(map(str, stuck)))
        elif alive is not None:
            alive.parent.mkdir(parents=True, exist_ok=True)
            alive.touch()
        time.sleep(settings.ingest_interval_seconds)


def forget_heartbeat(settings: JobSettings) -> None:
    """Removes the liveness file a driver before this one left (the pod's /tmp outlives a
    container): until this driver beats, the probes say it is starting, not alive or stuck."""
    if settings.ingest_alive_file:
        Path(settings.ingest_alive_file).unlink(missing_ok=True)
