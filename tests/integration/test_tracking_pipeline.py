"""The tracking pipeline end to end on the local stack, checked against the oracle."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from jobs.aggregate import InjectedFault
from oracles.tracking import event_time, expected_events
from producer.beacons import BeaconFactory, Mix
from producer.catalog import synthetic_catalog

from .pipeline import Pipeline

# Every awkward case at a rate that a few thousand beacons surely hit.
HARD_MIX = Mix(
    late_rate=0.1,
    late_max_hours=30,
    duplicate_rate=0.05,
    null_bid_rate=0.25,
    ed_only_rate=0.1,
    unattributed_rate=0.05,
    other_track_rate=0.05,
)


def factory(seed: int, mix: Mix = HARD_MIX, jobs: int = 60) -> BeaconFactory:
    return BeaconFactory(synthetic_catalog(jobs, 8, seed), mix, seed)


def assert_matches_oracle(pipeline: Pipeline, **oracle_args: Any) -> None:
    want = expected_events(pipeline.sent, pipeline.report_timezone, **oracle_args)
    got = pipeline.events()
    assert want, "the oracle expects no rows: the scenario is empty"
    assert set(got) == set(want), (
        f"keys differ: missing {sorted(set(want) - set(got))[:5]}, unexpected {sorted(set(got) - set(want))[:5]}"
    )
    for key, row in want.items():
        for column, value in row.items():
            assert got[key][column] == value, (key, column, got[key][column], value)


def coverage(beacons: list[dict[str, Any]]) -> Counter[str]:
    """How many beacons exercise each awkward case, so a scenario cannot pass vacuously."""
    now = datetime.now(timezone.utc)
    seen: Counter[str] = Counter()
    ids = Counter(b["create_time"] for b in beacons)
    seen["resent"] = sum(n - 1 for n in ids.values())
    for b in beacons:
        seen["late"] += now - event_time(b["create_time"]) > timedelta(hours=1)
        seen["null_bid_click"] += b["custom_track"] == "click" and b["bid"] is None
        seen["job_only_in_ed"] += b["job_id"] is None and '"jobId"' in b["ed"]
        seen["unattributed"] += b["job_id"] is None and '"jobId"' not in b["ed"]
        seen["other_track"] += b["custom_track"] not in ("", "click", "conversion", "qualified", "unqualified")
    return seen


@pytest.fixture(scope="module")
def steady(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """A pipeline fed a realistic stream with every awkward case, ingested and aggregated once."""
    pipeline = Pipeline(spark, tmp_path_factory.mktemp("steady"))
    pipeline.migrate()
    beacons = list(factory(11).stream(4000, datetime.now(timezone.utc), spread=timedelta(minutes=20)))
    assert min(coverage(beacons).values()) > 10, coverage(beacons)
    pipeline.send(beacons)
    pipeline.ingest()
    pipeline.aggregate()
    return pipeline


def test_steady_stream_matches_oracle_row_for_row(steady: Pipeline) -> None:
    assert_matches_oracle(steady)


def test_aggregate_twice_changes_nothing(steady: Pipeline) -> None:
    before = steady.snapshot()
    metrics = steady.aggregate()
    assert metrics.buckets_recomputed == 0
    assert metrics.rows_read == 0
    assert steady.snapshot() == before


def test_crash_between_upserts_and_watermark_converges(steady: Pipeline) -> None:
    more = list(factory(12).stream(500, datetime.now(timezone.utc), spread=timedelta(minutes=3)))
    steady.send(more)
    steady.ingest()
    before = steady.snapshot()

    with pytest.raises(InjectedFault):
        steady.aggregate(aggregate_fail_before_watermark=True)
    assert steady.snapshot() == before, "a failed run must leave the hourly rows as they were"
    dirty = steady.sql("SELECT COUNT(*) FROM dirty_buckets")[0][0]
    assert dirty > 0, "a failed run must leave its buckets dirty"

    steady.aggregate()
    assert_matches_oracle(steady)
    assert steady.sql("SELECT COUNT(*) FROM dirty_buckets")[0][0] == 0


def test_ingest_that_aggregates_lands_exact_rows_without_an_aggregate_run(steady: Pipeline) -> None:
    steady.send(list(factory(14).stream(400, datetime.now(timezone.utc), spread=timedelta(minutes=5))))
    steady.ingest(ingest_aggregates=True)
    assert steady.sql("SELECT COUNT(*) FROM dirty_buckets")[0][0] == 0
    assert_matches_oracle(steady)


def test_failed_job_process_exits_non_zero_and_names_the_fault(steady: Pipeline) -> None:
    steady.send(list(factory(13).stream(50, datetime.now(timezone.utc))))
    steady.ingest()
    done = steady.run_main("jobs", "aggregate", extra_env={"TIDEMARK_AGGREGATE_FAIL_BEFORE_WATERMARK": "true"})
    assert done.returncode == 1
    assert "TIDEMARK_AGGREGATE_FAIL_BEFORE_WATERMARK" in done.stderr
    done = steady.run_main("jobs", "aggregate")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_matches_oracle(steady)


TOTALS = (
    "SELECT dates, hours, job_id, publisher_id, campaign_id, group_id, clicks, conversion, qualified_application, "
    "disqualified_application, impressions, bid_sum, bid_count, parts FROM tracking_totals"
)
SUMS_OF_PARTIALS = (
    "SELECT dates, hours, job_id, publisher_id, campaign_id, group_id, SUM(clicks), SUM(conversion), "
    "SUM(qualified_application), SUM(disqualified_application), SUM(impressions), SUM(bid_sum), SUM(bid_count), "
    "COUNT(*) FROM tracking_partials GROUP BY dates, hours, job_id, publisher_id, campaign_id, group_id"
)


def test_totals_stay_the_sums_of_the_partials(steady: Pipeline) -> None:
    # After runs that re-opened buckets (late events, re-sends, a crashed chunk redone), the
    # totals the hourly rows are read from still hold exactly what the partials sum to.
    totals = sorted(steady.sql(TOTALS))
    assert len(totals) > 100
    assert totals == sorted(steady.sql(SUMS_OF_PARTIALS))


def test_an_install_without_totals_gets_them_at_migrate(steady: Pipeline) -> None:
    want = sorted(steady.sql(TOTALS))
    steady.sql("DROP TABLE tracking_totals")
    steady.migrate()
    assert sorted(steady.sql(TOTALS)) == want
    steady.send(list(factory(15).stream(300, datetime.now(timezone.utc), spread=timedelta(minutes=5))))
    steady.ingest()
    steady.aggregate()
    assert_matches_oracle(steady)


def test_backfill_of_the_whole_range_reproduces_the_rows(steady: Pipeline) -> None:
    # Every derived row lost: the partials, the totals made of them, the hourly rows.
    steady.sql("DELETE FROM events")
    steady.sql("DELETE FROM tracking_partials")
    steady.sql("DELETE FROM tracking_totals")
    times = [event_time(b["create_time"]) for b in steady.sent]
    start = (min(times) - timedelta(minutes=1)).isoformat()
    end = (max(times) + timedelta(minutes=1)).isoformat()
    marked = steady.backfill(start, end)
    assert marked.buckets_recomputed > 0
    steady.aggregate()
    assert_matches_oracle(steady)


def test_half_hour_report_time_zone_matches_oracle(steady: Pipeline, spark: Any, tmp_path: Path) -> None:
    """Same raw events, hourly rows cut in Asia/Kolkata (timezone.utc+05:30) into another database."""
    kolkata = Pipeline(spark, tmp_path, name=steady.name, report_timezone="Asia/Kolkata")
    kolkata.sent = steady.sent
    settings = {"mysql_database": f"{steady.name}_kolkata"}
    from jobs import aggregate, backfill, migrate
    from jobs.metrics import RunMetrics

    migrate.run(kolkata.settings(**settings), RunMetrics("migrate"))
    times = [event_time(b["create_time"]) for b in steady.sent]
    backfill.run(
        kolkata.settings(**settings),
        [
            "--stream",
            "tracking",
            "--from",
            min(times).isoformat(),
            "--to",
            (max(times) + timedelta(minutes=1)).isoformat(),
        ],
        RunMetrics("backfill"),
    )
    aggregate.run(kolkata.settings(**settings), spark, RunMetrics("aggregate"))
    kolkata.name = settings["mysql_database"]  # read results from the Kolkata database
    assert_matches_oracle(kolkata)
    utc_hours = {k[2] for k in steady.events()}
    assert {k[2] for k in kolkata.events()} != utc_hours or len(utc_hours) == 24
