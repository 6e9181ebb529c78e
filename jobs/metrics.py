"""Run metrics each job pushes to the Pushgateway when it ends.

Pushed with POST (pushadd) so a failed run replaces only the metrics it sends: the last
success timestamp of an earlier run stays as it was.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

log = logging.getLogger("tidemark.metrics")


@dataclass
class RunMetrics:
    job: str
    started: float = field(default_factory=time.time)
    rows_read: int = 0
    rows_written: int = 0
    # Rejects by (stream, reason), pushed with both labels.
    rejected_by_stream: Counter[tuple[str, str]] = field(default_factory=Counter)
    rows_by_stream: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    buckets_recomputed: int = 0
    chunks: int = 0
    # Streams this run left to another run of the same job that holds their lock.
    skipped_streams: list[str] = field(default_factory=list)
    # Pushed as a timestamp, not an age: Prometheus computes the age (tidemark:freshness_seconds),
    # so freshness keeps rising while no job runs.
    newest_event_timestamp: dict[str, float] = field(default_factory=dict)
    lag_records: dict[str, int] = field(default_factory=dict)
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

    def registry(self, ok: bool, now: float) -> CollectorRegistry:
        reg = CollectorRegistry()

        def gauge(name: str, doc: str, value: float, **labels: str) -> None:
            g = Gauge(f"tidemark_{name}", doc, list(labels), registry=reg)
            (g.labels(**labels) if labels else g).set(value)

        gauge("job_duration_seconds", "Wall time of the last run", now - self.started)
        if not ok:
            gauge("job_last_failure_timestamp_seconds", "When the last failed run ended", now)
            gauge("job_last_run_success", "1 when the last run succeeded", 0)
            return reg
        gauge("job_last_success_timestamp_seconds", "When the last successful run ended", now)
        gauge("job_last_run_success", "1 when the last run succeeded", 1)
        gauge("job_rows_read", "Rows the last run read", self.rows_read)
        gauge("job_rows_written", "Rows the last run wrote", self.rows_written)
        gauge("job_buckets_recomputed", "Time buckets the last run recomputed", self.buckets_recomputed)
        rejected = Gauge(
            "tidemark_job_rows_rejected",
            "Rows the last run rejected, by stream and reason",
            ["stream", "reason"],
            registry=reg,
        )
        for (stream, reason), count in self.rejected_by_stream.items():
            rejected.labels(stream=stream, reason=reason).set(count)
        kinds = Gauge("tidemark_job_events", "Valid events the last run saw, by kind", ["kind"], registry=reg)
        for kind, count in self.kinds.items():
            kinds.labels(kind=kind).set(count)
        newest = Gauge(
            "tidemark_newest_event_timestamp_seconds", "Newest event time visible in MySQL", ["stream"], registry=reg
        )
        for stream, timestamp in self.newest_event_timestamp.items():
            newest.labels(stream=stream).set(timestamp)
        lag = Gauge(
            "tidemark_ingest_lag_records", "Records in Kafka not yet ingested, at run end", ["topic"], registry=reg
        )
        for topic, records in self.lag_records.items():
            lag.labels(topic=topic).set(records)
        values = Gauge(
            "tidemark_stream_value", "What a stream reports after an aggregate run", ["stream", "name"], registry=reg
        )
        for (stream, name), value in self.stream_values.items():
            values.labels(stream=stream, name=name).set(value)
        return reg

    def push(self, pushgateway: str, ok: bool) -> None:
        if not pushgateway:
            return
        try:
            pushadd_to_gateway(pushgateway, job=f"tidemark_{self.job}", registry=self.registry(ok, time.time()))
        except OSError as e:
            # Metrics must never fail the data: say so and go on.
            log.warning("could not push metrics to %s: %s", pushgateway, e)

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
        for (stream, name), value in self.stream_values.items():
            parts.append(f"{name}[{stream}]={value:g}")
        if self.skipped_streams:
            parts.append(f"skipped (another run holds them)={self.skipped_streams}")
        return " ".join(parts)
