"""What a run pushes: one Pushgateway group per stream it drove, keyed by stream and release,
each holding only that stream's series, so no other stream's or install's push replaces them."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from jobs import metrics
from jobs.metrics import NO_STREAM, RunMetrics

NOW = 1_800_000_000.0


def series(registry: CollectorRegistry) -> dict[str, float]:
    """A group's samples, as `name{label="value"}` -> value."""
    out = {}
    for family in registry.collect():
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def ingest_of_two_streams() -> RunMetrics:
    run = RunMetrics(
        "ingest", release="tidemark/a", streams={"tracking": ("t.tracking",), "ads": ("t.ads",)}, started=NOW - 10
    )
    run.count("tracking", None, 90)
    run.count("tracking", "bad_json", 10)
    run.count("ads", None, 40)
    run.saw("tracking", "click", 30)
    run.marked("tracking", 3)
    run.marked("ads", 2)
    run.lag_records.update({"t.tracking": 5, "t.ads": 0})
    return run


SUCCEEDED = {
    "tidemark_job_duration_seconds": 10.0,
    "tidemark_job_last_success_timestamp_seconds": NOW,
    "tidemark_job_last_run_success": 1.0,
}


class TestGroups:
    def test_should_give_each_stream_a_group_of_its_own_series_only(self) -> None:
        groups = ingest_of_two_streams().groups(ok=True, now=NOW)
        assert set(groups) == {"tracking", "ads", NO_STREAM}
        assert series(groups["tracking"]) == {
            **SUCCEEDED,
            "tidemark_job_rows_read": 100.0,
            "tidemark_job_rows_written": 90.0,
            "tidemark_job_buckets_recomputed": 3.0,
            'tidemark_job_rows_rejected{reason="bad_json"}': 10.0,
            'tidemark_job_events{kind="click"}': 30.0,
            'tidemark_ingest_lag_records{topic="t.tracking"}': 5.0,
        }
        assert series(groups["ads"]) == {
            **SUCCEEDED,
            "tidemark_job_rows_read": 40.0,
            "tidemark_job_rows_written": 40.0,
            "tidemark_job_buckets_recomputed": 2.0,
            'tidemark_ingest_lag_records{topic="t.ads"}': 0.0,
        }

    def test_should_key_a_group_by_release_and_stream_and_a_streamless_one_by_release(self) -> None:
        run = RunMetrics("ingest", release="tidemark/a")
        assert run.grouping_key("tracking") == {"release": "tidemark/a", "stream": "tracking"}
        assert run.grouping_key(NO_STREAM) == {"release": "tidemark/a"}

    def test_should_keep_what_no_stream_claims_apart_without_an_outcome(self) -> None:
        run = ingest_of_two_streams()
        # How ingest counts kinds and marked buckets today, without naming the stream.
        run.kinds["impression"] += 7
        run.buckets_recomputed += 4
        groups = run.groups(ok=True, now=NOW)
        assert series(groups[NO_STREAM]) == {
            "tidemark_job_rows_read": 0.0,
            "tidemark_job_rows_written": 0.0,
            "tidemark_job_buckets_recomputed": 4.0,
            'tidemark_job_events{kind="impression"}': 7.0,
        }
        assert 'tidemark_job_events{kind="impression"}' not in series(groups["tracking"])

    def test_should_give_a_declared_stream_its_success_even_when_it_saw_nothing(self) -> None:
        run = RunMetrics("ingest", streams={"tracking": ("t.tracking",), "orders": ("t.orders",)}, started=NOW - 10)
        run.count("tracking", None, 5)
        assert series(run.groups(ok=True, now=NOW)["orders"]) == {
            **SUCCEEDED,
            "tidemark_job_rows_read": 0.0,
            "tidemark_job_rows_written": 0.0,
            "tidemark_job_buckets_recomputed": 0.0,
        }

    def test_should_put_everything_a_one_stream_run_counted_in_that_streams_group(self) -> None:
        # As ingest's aggregate after a batch makes it: no streams declared, totals only.
        run = RunMetrics("aggregate", started=NOW - 10)
        run.rows_read += 100
        run.rows_written += 20
        run.buckets_recomputed += 2
        run.newest_event_timestamp["orders"] = NOW - 30
        run.stream_values["orders", "unmatched_orders"] = 1
        groups = run.groups(ok=True, now=NOW)
        assert list(groups) == ["orders"]
        assert series(groups["orders"]) == {
            **SUCCEEDED,
            "tidemark_job_rows_read": 100.0,
            "tidemark_job_rows_written": 20.0,
            "tidemark_job_buckets_recomputed": 2.0,
            "tidemark_newest_event_timestamp_seconds": NOW - 30,
            'tidemark_stream_value{name="unmatched_orders"}': 1.0,
        }

    def test_should_push_a_job_without_streams_in_one_group_without_a_stream(self) -> None:
        run = RunMetrics("dims", started=NOW - 10)
        run.rows_read += 7
        groups = run.groups(ok=True, now=NOW)
        assert list(groups) == [NO_STREAM]
        assert series(groups[NO_STREAM])["tidemark_job_rows_read"] == 7.0

    def test_should_leave_a_skipped_stream_to_the_run_that_holds_its_lock(self) -> None:
        run = RunMetrics("aggregate", streams={"tracking": (), "ads": ()})
        run.skipped_streams.append("ads")
        assert list(run.groups(ok=True, now=NOW)) == ["tracking"]
        run.skipped_streams.append("tracking")
        assert run.groups(ok=True, now=NOW) == {}


class TestStreamsOneAfterAnother:
    def test_should_attribute_what_each_stream_adds_and_its_time(self) -> None:
        run = RunMetrics("aggregate", streams={"tracking": (), "ads": ()})
        with run.running("tracking"):
            run.rows_read += 100
            run.buckets_recomputed += 3
        with run.running("ads"):
            run.rows_read += 7
        assert (run.rows_by_stream, run.buckets_by_stream) == ({"tracking": 100, "ads": 7}, {"tracking": 3, "ads": 0})
        groups = run.groups(ok=True, now=NOW)
        assert series(groups["ads"])["tidemark_job_rows_read"] == 7.0
        assert series(groups[NO_STREAM])["tidemark_job_rows_read"] == 0.0
        assert series(groups["ads"])["tidemark_job_duration_seconds"] == run.seconds_by_stream["ads"] < 1

    def test_should_fail_only_the_streams_a_failed_run_did_not_finish(self) -> None:
        run = RunMetrics("aggregate", streams={"tracking": (), "ads": ()}, started=NOW - 10)
        with run.running("tracking"):
            run.rows_read += 100
        with pytest.raises(RuntimeError), run.running("ads"):
            raise RuntimeError("MySQL went away")
        groups = run.groups(ok=False, now=NOW)
        assert set(groups) == {"tracking", "ads"}
        assert series(groups["tracking"])["tidemark_job_last_run_success"] == 1.0
        assert set(series(groups["ads"])) == {
            "tidemark_job_duration_seconds",
            "tidemark_job_last_failure_timestamp_seconds",
            "tidemark_job_last_run_success",
        }
        assert series(groups["ads"])["tidemark_job_last_run_success"] == 0.0


class TestPush:
    def test_should_push_each_group_under_its_key_and_never_raise(self, monkeypatch: pytest.MonkeyPatch) -> None:
        pushed: list[tuple[str, dict[str, str]]] = []

        def pushadd(gateway: str, job: str, registry: CollectorRegistry, grouping_key: dict[str, str]) -> None:
            pushed.append((job, grouping_key))
            if len(pushed) == 2:
                raise OSError("connection refused")

        monkeypatch.setattr(metrics, "pushadd_to_gateway", pushadd)
        ingest_of_two_streams().push("pushgateway:9091", ok=True)
        # The second push fails: the run goes on, without trying the others.
        assert pushed == [
            ("tidemark_ingest", {"release": "tidemark/a", "stream": "ads"}),
            ("tidemark_ingest", {"release": "tidemark/a", "stream": "tracking"}),
        ]

    def test_should_push_nothing_without_a_pushgateway(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def pushadd(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("pushed")

        monkeypatch.setattr(metrics, "pushadd_to_gateway", pushadd)
        ingest_of_two_streams().push("", ok=True)
