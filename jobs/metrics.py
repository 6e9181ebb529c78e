"""Run metrics each job pushes to the Pushgateway when it ends.

A run pushes one group per stream it drove, keyed {job, stream, release} and holding only
that stream's series: a push replaces its own streams' series in its own install and nobody
else's, so ingest's per-stream aggregate runs, two releases or two namespaces sharing one
Pushgateway keep theirs side by side. A job without streams (dims, migrate) pushes one group
keyed {job, release}: no `stream` label at all, which is how Prometheus says "none" (a label
set to "" is no label there, so "" would mean the same, and "none" would read as a stream).

Pushed with POST (pushadd) so a failed run replaces only the metrics it sends: the last
success timestamp of an earlier run stays as it was.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge, delete_from_gateway, pushadd_to_gateway

from jobs.settings import LOCAL_RELEASE

log = logging.getLogger("tidemark.metrics")

# The group of a job without streams, and of what a run over several streams counted that no
# stream claims (see RunMetrics.groups).
NO_STREAM = ""


@dataclass
class StreamTally:
    """One group's share of a run."""

    rows_read: int = 0
    rows_written: int = 0
    buckets_recomputed: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    newest_event_timestamp: float | None = None
    lag_records: dict[str, int] = field(default_factory=dict)
    skipped_offsets: Counter[tuple[str, int]] = field(default_factory=Counter)
    values: dict[str, float] = field(default_factory=dict)
    # How long the run spent on this stream, when it ran its streams one after another.
    seconds: float | None = None

    def absorb(self, other: StreamTally) -> None:
        self.rows_read += other.rows_read
        self.rows_written += other.rows_written
        self.buckets_recomputed += other.buckets_recomputed
        self.rejected.update(other.rejected)
        self.kinds.update(other.kinds)
        self.lag_records.update(other.lag_records)
        self.skipped_offsets.update(other.skipped_offsets)


@dataclass
class RunMetrics:
    job: str
    # The install these series belong to (JobSettings.release).
    release: str = LOCAL_RELEASE
    # The streams the run drives, with the Kafka topics each reads: each gets its own group even
    # when it saw nothing (so its last success stays current), and a topic's lag goes to its
    # stream's group. Streams the run reports on without being declared here get groups too.
    streams: dict[str, tuple[str, ...]] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    # Run totals; the *_by_stream fields below hold the shares callers attribute to a stream.
    rows_read: int = 0
    rows_written: int = 0
    # Rejects by (stream, reason), pushed with both labels.
    rejected_by_stream: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Rows read, and written, by stream.
    rows_by_stream: Counter[str] = field(default_factory=Counter)
    written_by_stream: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    kinds_by_stream: Counter[tuple[str, str]] = field(default_factory=Counter)
    buckets_recomputed: int = 0
    buckets_by_stream: Counter[str] = field(default_factory=Counter)
    chunks: int = 0
    # Streams this run left to another run of the same job that holds their lock.
    skipped_streams: list[str] = field(default_factory=list)
    # Streams a run that drives them one after another finished (`running`): a later stream's
    # failure fails the run, not them.
    finished_streams: list[str] = field(default_factory=list)
    seconds_by_stream: dict[str, float] = field(default_factory=dict)
    # Pushed as a timestamp, not an age: Prometheus computes the age (tidemark:freshness_seconds),
    # so freshness keeps rising while no job runs.
    newest_event_timestamp: dict[str, float] = field(default_factory=dict)
    lag_records: dict[str, int] = field(default_factory=dict)
    # Offsets Kafka deleted before ingest read them, by (topic, partition): lost records.
    skipped_offsets: Counter[tuple[str, int]] = field(default_factory=Counter)
    # What a stream reports of itself after an aggregate run, by (stream, name).
    stream_values: dict[tuple[str, str], float] = field(default_factory=dict)
    # Streams' micro-batches report from concurrent threads.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def rejected(self) -> Counter[str]:
        """Rejects by reason, whatever the stream."""
        by_reason: Counter[str] = Counter()
        for (_, reason), rows in self.rejected_by_stream.items():
            by_reason[reason] += rows
        return by_reason

    def count(self, stream: str, reason: str | None, rows: int) -> None:
        """Records a stream read: valid ones (reason None) or rejected ones with the reason."""
        with self._lock:
            self.rows_read += rows
            self.rows_by_stream[stream] += rows
            if reason:
                self.rejected_by_stream[stream, reason] += rows
            else:
                self.rows_written += rows
                self.written_by_stream[stream] += rows

    def saw(self, stream: str, kind: str, rows: int) -> None:
        """Records valid rows of one kind a stream read."""
        with self._lock:
            self.kinds[kind] += rows
            self.kinds_by_stream[stream, kind] += rows

    def skipped(self, gaps: Mapping[tuple[str, int], int]) -> None:
        """Records offsets a batch covered that Kafka no longer had."""
        with self._lock:
            self.skipped_offsets.update(gaps)

    def marked(self, stream: str, buckets: int) -> None:
        """Records buckets a stream's rows marked for recompute."""
        with self._lock:
            self.buckets_recomputed += buckets
            self.buckets_by_stream[stream] += buckets

    @contextmanager
    def running(self, stream: str) -> Iterator[None]:
        """For a run that drives its streams one after another: what it adds to the totals
        inside the block is `stream`'s, and so is the time the block takes. The stream is
        finished when the block ends without an error."""
        started = time.time()
        before = self._unclaimed()
        try:
            yield
        finally:
            after = self._unclaimed()
            with self._lock:
                self.rows_by_stream[stream] += after.rows_read - before.rows_read
                self.written_by_stream[stream] += after.rows_written - before.rows_written
                self.buckets_by_stream[stream] += after.buckets_recomputed - before.buckets_recomputed
                for kind, rows in (after.kinds - before.kinds).items():
                    self.kinds_by_stream[stream, kind] += rows
            self.seconds_by_stream[stream] = time.time() - started
        self.finished_streams.append(stream)

    def _unclaimed(self) -> StreamTally:
        """The counts callers added to the run totals alone, which no stream claims."""
        kinds = Counter(self.kinds)
        kinds.subtract(Counter({kind: rows for (_, kind), rows in self.kinds_by_stream.items()}))
        return StreamTally(
            rows_read=self.rows_read - sum(self.rows_by_stream.values()),
            rows_written=self.rows_written - sum(self.written_by_stream.values()),
            buckets_recomputed=self.buckets_recomputed - sum(self.buckets_by_stream.values()),
            kinds=+kinds,
        )

    def tallies(self) -> dict[str, StreamTally]:
        """Each stream's share of the run, and under NO_STREAM what no stream claims."""
        stream_of_topic = {topic: stream for stream, topics in self.streams.items() for topic in topics}
        names = {
            *self.streams,
            *self.rows_by_stream,
            *self.written_by_stream,
            *self.buckets_by_stream,
            *self.newest_event_timestamp,
            *(stream for stream, _ in self.rejected_by_stream),
            *(stream for stream, _ in self.kinds_by_stream),
            *(stream for stream, _ in self.stream_values),
        }
        tallies = {name: StreamTally() for name in sorted(names)}
        for name, tally in tallies.items():
            tally.rows_read = self.rows_by_stream[name]
            tally.rows_written = self.written_by_stream[name]
            tally.buckets_recomputed = self.buckets_by_stream[name]
            tally.newest_event_timestamp = self.newest_event_timestamp.get(name)
            tally.seconds = self.seconds_by_stream.get(name)
        for (stream, reason), rows in self.rejected_by_stream.items():
            tallies[stream].rejected[reason] += rows
        for (stream, kind), rows in self.kinds_by_stream.items():
            tallies[stream].kinds[kind] += rows
        for (stream, name), value in self.stream_values.items():
            tallies[stream].values[name] = value
        unclaimed = self._unclaimed()
        for topic, records in self.lag_records.items():
            owner = tallies[stream_of_topic[topic]] if topic in stream_of_topic else unclaimed
            owner.lag_records[topic] = records
        for (topic, partition), gap in self.skipped_offsets.items():
            owner = tallies[stream_of_topic[topic]] if topic in stream_of_topic else unclaimed
            owner.skipped_offsets[topic, partition] += gap
        tallies[NO_STREAM] = unclaimed
        return tallies

    def groups(self, ok: bool, now: float) -> dict[str, CollectorRegistry]:
        """What `push` sends, by the stream of its group (NO_STREAM: no stream label).

        Each stream the run drove gets its group with the run's outcome; one the run left to
        another run that holds its lock gets none (that run reports it). A run of one stream
        puts all its counts in that stream's group. A run of several puts what it counted
        without saying for which stream in a NO_STREAM group of counts only, no outcome (so it
        can never age into an alert), pushed every time so an earlier remainder never lingers;
        once every caller attributes its counts, it holds zeros. A job without streams pushes
        everything in its NO_STREAM group."""
        tallies = self.tallies()
        unclaimed = tallies.pop(NO_STREAM)
        for stream in self.skipped_streams:
            tallies.pop(stream, None)
        if not tallies:
            return {} if self.skipped_streams else {NO_STREAM: self._series(unclaimed, now, outcome=ok)}
        if len(tallies) == 1:
            next(iter(tallies.values())).absorb(unclaimed)
        groups = {
            stream: self._series(tally, now, outcome=ok or stream in self.finished_streams)
            for stream, tally in tallies.items()
        }
        if len(tallies) > 1 and ok:
            groups[NO_STREAM] = self._series(unclaimed, now, outcome=None)
        return groups

    def _series(self, tally: StreamTally, now: float, outcome: bool | None) -> CollectorRegistry:
        seconds = tally.seconds if tally.seconds is not None else now - self.started
        return series(tally, outcome, seconds, now)

    def grouping_key(self, stream: str) -> dict[str, str]:
        """The labels besides `job` that name a group in the Pushgateway."""
        return {"release": self.release, **({"stream": stream} if stream else {})}

    def push(self, pushgateway: str, ok: bool) -> None:
        if not pushgateway:
            return
        for stream, registry in self.groups(ok, time.time()).items():
            try:
                pushadd_to_gateway(
                    pushgateway, job=f"tidemark_{self.job}", registry=registry, grouping_key=self.grouping_key(stream)
                )
            except OSError as e:
                # Metrics must never fail the data: say so and go on.
                log.warning("could not push metrics to %s: %s", pushgateway, e)
                return

    def summary(self) -> str:
        parts = [f"read={self.rows_read}", f"written={self.rows_written}", f"buckets={self.buckets_recomputed}"]
        if self.rejected:
            parts.append(f"rejected={dict(self.rejected)}")
        if self.kinds:
            parts.append(f"kinds={dict(self.kinds)}")
        for stream, timestamp in self.newest_event_timestamp.items():
            parts.append(f"freshness_s[{stream}]={time.time() - timestamp:.1f}")
        if self.lag_records:
            parts.append(f"lag={self.lag_records}")
        if self.skipped_offsets:
            lost = {f"{topic}/{partition}": n for (topic, partition), n in sorted(self.skipped_offsets.items())}
            parts.append(f"skipped_offsets (deleted from Kafka before read)={lost}")
        for (stream, name), value in self.stream_values.items():
            parts.append(f"{name}[{stream}]={value:g}")
        if self.skipped_streams:
            parts.append(f"skipped (another run holds them)={self.skipped_streams}")
        return " ".join(parts)


def series(tally: StreamTally, outcome: bool | None, seconds: float, now: float) -> CollectorRegistry:
    """One group's series: the outcome (None: none; `seconds` the run took) and, unless it
    failed, the counts."""
    reg = CollectorRegistry()

    def gauge(name: str, doc: str, value: float) -> None:
        Gauge(f"tidemark_{name}", doc, registry=reg).set(value)

    def labelled(name: str, doc: str, label: str, values: Mapping[str, float]) -> None:
        # Created even when empty: it replaces what an earlier run pushed under that name.
        g = Gauge(f"tidemark_{name}", doc, [label], registry=reg)
        for key, value in values.items():
            g.labels(key).set(value)

    if outcome is not None:
        gauge("job_duration_seconds", "Wall time of the last run", seconds)
        if not outcome:
            gauge("job_last_failure_timestamp_seconds", "When the last failed run ended", now)
            gauge("job_last_run_success", "1 when the last run succeeded", 0)
            return reg
        gauge("job_last_success_timestamp_seconds", "When the last successful run ended", now)
        gauge("job_last_run_success", "1 when the last run succeeded", 1)
    gauge("job_rows_read", "Rows the last run read", tally.rows_read)
    gauge("job_rows_written", "Rows the last run wrote", tally.rows_written)
    gauge("job_buckets_recomputed", "Time buckets the last run recomputed", tally.buckets_recomputed)
    labelled("job_rows_rejected", "Rows the last run rejected, by stream and reason", "reason", tally.rejected)
    labelled("job_events", "Valid events the last run saw, by kind", "kind", tally.kinds)
    if tally.newest_event_timestamp is not None:
        gauge("newest_event_timestamp_seconds", "Newest event time visible in MySQL", tally.newest_event_timestamp)
    labelled("ingest_lag_records", "Records in Kafka not yet ingested, at run end", "topic", tally.lag_records)
    skipped = Gauge(
        "tidemark_ingest_skipped_offsets",
        "Kafka offsets the run skipped: records deleted (retention) before ingest read them",
        ["topic", "partition"],
        registry=reg,
    )
    for (topic, partition), gap in tally.skipped_offsets.items():
        skipped.labels(topic, str(partition)).set(gap)
    labelled("stream_value", "What a stream reports after an aggregate run", "name", tally.values)
    return reg


def forget(pushgateway: str, job: str, release: str, streams: Iterable[str]) -> None:
    """Deletes groups of `job` that no run pushes any more, whose last success would otherwise
    age into an alert for ever: those of `streams` in this release (streams it no longer runs),
    and the job-only group that runs pushed before groups were keyed by stream and release."""
    if not pushgateway:
        return
    keys: list[dict[str, str] | None] = [None, *({"release": release, "stream": s} for s in streams)]
    try:
        for key in keys:
            delete_from_gateway(pushgateway, job=f"tidemark_{job}", grouping_key=key)
    except OSError as e:
        log.warning("could not delete stale metric groups from %s: %s", pushgateway, e)
