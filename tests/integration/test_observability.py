"""Every dashboard panel shows real data after a real run; freshness and failures are visible."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from local import stack
from observability.dashboards import BUSINESS, PIPELINE, Panel
from observability.queries import run_promql, run_sql
from producer.ads import AdEventFactory
from producer.orders import OrderFactory, synthetic_customers, upsert_customers
from producer.userlogs import PART, UserLogFactory

from .conftest import PROMETHEUS_URL, ROOT, eventually, mysql_connect
from .pipeline import Pipeline
from .test_tracking_pipeline import factory

PUSH = {"TIDEMARK_PUSHGATEWAY": f"{stack.HOST}:{stack.PORTS['pushgateway']}"}


def job(pipeline: Pipeline, name: str, **env: str) -> subprocess.CompletedProcess[str]:
    return pipeline.run_main("jobs", name, extra_env={**PUSH, **env})


def instant(query: str) -> list[dict[str, Any]]:
    now = datetime.now(timezone.utc)
    return run_promql(PROMETHEUS_URL, Panel("q", "stat", query, ()), now, now)


def value(query: str) -> float | None:
    result = instant(query)
    return float(result[0]["value"][1]) if result else None


def prometheus_caught_up(pipeline: Pipeline) -> None:
    """Waits until Prometheus has scraped what the pipeline's last aggregate pushed."""
    newest = pipeline.sql("SELECT newest_event_time FROM watermarks WHERE stream = 'tracking'")[0][0]
    expected = newest.replace(tzinfo=timezone.utc).timestamp()
    query = 'max(tidemark_newest_event_timestamp_seconds{stream="tracking"})'
    eventually(lambda: value(query) == pytest.approx(expected, abs=1e-3), 30, f"Prometheus to see {newest}")

    def rule_caught_up() -> bool:
        # The recording rule runs on its own interval after the scrape.
        freshness = value('tidemark:freshness_seconds{stream="tracking"}')
        return freshness is not None and abs(freshness - (time.time() - expected)) < 5

    eventually(rule_caught_up, 30, "the freshness rule to follow the push")


@pytest.fixture(scope="module")
def observed(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """A real run: the producer serving /metrics to Prometheus while ingest and aggregate push."""
    pipeline = Pipeline(spark, tmp_path_factory.mktemp("observed"), streams=("tracking", "ads", "orders", "userlogs"))
    pipeline.migrate()
    shop = mysql_connect(f"{pipeline.name}_shop")
    upsert_customers(shop, synthetic_customers(40, seed=71))
    shop.close()
    pipeline.send_messages(
        "orders", [(None, m) for m in OrderFactory(customers=40).stream(300, datetime.now(timezone.utc))]
    )
    pipeline.send_payloads([b"not json", b'{"create_time": "nope"}'])
    logs = list(UserLogFactory(seed=71).stream(30, datetime.now(timezone.utc)))
    for part in PART:
        pipeline.send_messages(f"userlogs_{part}", [(None, v) for p, v in logs if p == part])
    pipeline.send_messages("ads", list(AdEventFactory(seed=71, ads=8).stream(600, datetime.now(timezone.utc))))
    producer = subprocess.Popen(
        [sys.executable, "-m", "producer"],
        cwd=ROOT,
        env={**os.environ, **pipeline.env, "TIDEMARK_PRODUCER_RATE": "200", "TIDEMARK_PRODUCER_METRICS_PORT": "18000"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        eventually(
            lambda: value('sum(tidemark_producer_events_sent_total{stream="tracking"})'),
            60,
            "Prometheus to scrape the producer",
        )
        for name in ("ingest", "aggregate"):
            done = job(pipeline, name)
            assert done.returncode == 0, done.stderr[-3000:]
        prometheus_caught_up(pipeline)
        yield pipeline
    finally:
        producer.terminate()
        producer.wait(timeout=30)


@pytest.mark.parametrize("panel", BUSINESS.panels, ids=lambda p: p.title)
def test_every_business_panel_returns_rows_as_the_read_only_user(observed: Pipeline, panel: Panel) -> None:
    conn = mysql_connect(observed.name, user=stack.GRAFANA_USER, password=stack.GRAFANA_PASSWORD)
    end = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(hours=1)
    columns, rows = run_sql(conn, panel, end - timedelta(hours=26), end)
    conn.close()
    assert tuple(columns) == panel.columns
    assert rows, f"{panel.title}: no rows"
    assert all(v is not None for v in rows[0]), rows[0]


@pytest.mark.parametrize("panel", PIPELINE.panels, ids=lambda p: p.title)
def test_every_pipeline_panel_returns_series(observed: Pipeline, panel: Panel) -> None:
    def series() -> list[dict[str, Any]]:
        now = datetime.now(timezone.utc)
        return run_promql(PROMETHEUS_URL, panel, now - timedelta(minutes=5), now)

    result = eventually(series, 30, f"data for {panel.title!r}")
    for s in result:
        assert set(panel.columns) <= set(s["metric"]), (panel.title, s["metric"])


def test_the_read_only_user_cannot_write(observed: Pipeline) -> None:
    import mysql.connector

    conn = mysql_connect(observed.name, user=stack.GRAFANA_USER, password=stack.GRAFANA_PASSWORD)
    with pytest.raises(mysql.connector.errors.ProgrammingError, match="denied"):
        conn.cursor().execute("DELETE FROM events")
    conn.close()


def test_freshness_rises_while_paused_and_falls_after_a_run(observed: Pipeline) -> None:
    query = 'tidemark:freshness_seconds{stream="tracking"}'
    before = value(query)
    assert before is not None
    paused = eventually(lambda: (v := value(query)) is not None and v > max(before, 60) and v, 90, "freshness to rise")

    observed.send(list(factory(61).stream(200, datetime.now(timezone.utc), spread=timedelta(seconds=5))))
    observed.ingest()
    # In-process runs are quick, so what is measured is the run, not Spark's start-up.
    observed.aggregate().push(PUSH["TIDEMARK_PUSHGATEWAY"], ok=True)
    prometheus_caught_up(observed)
    after = value(query)
    assert after is not None and after < paused - 20, (before, paused, after)


def test_a_failed_run_keeps_its_last_success_and_shows_the_failure(observed: Pipeline) -> None:
    selector = '{job="tidemark_aggregate"}'
    last_success = value(f"tidemark_job_last_success_timestamp_seconds{selector}")
    assert last_success is not None
    observed.send(list(factory(62).stream(50, datetime.now(timezone.utc))))
    observed.ingest()

    done = job(observed, "aggregate", TIDEMARK_AGGREGATE_FAIL_BEFORE_WATERMARK="true")
    assert done.returncode == 1

    eventually(lambda: value(f"tidemark_job_last_run_success{selector}") == 0, 30, "the failure in Prometheus")
    assert value(f"tidemark_job_last_success_timestamp_seconds{selector}") == last_success
    failed_at = value(f"tidemark_job_last_failure_timestamp_seconds{selector}")
    assert failed_at is not None and failed_at > last_success


def test_continuous_ingest_serves_sparks_prometheus_metrics(observed: Pipeline) -> None:
    import urllib.request

    port = 14040
    env = {
        **os.environ,
        **observed.env,
        "TIDEMARK_INGEST_TRIGGER": "continuous",
        "TIDEMARK_INGEST_INTERVAL_SECONDS": "2",
        "TIDEMARK_SPARK_UI_PORT": str(port),
    }
    ingest = subprocess.Popen(
        [sys.executable, "-m", "jobs", "ingest"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def scrape(path: str) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return str(r.read().decode())
        except OSError:
            return None

    try:
        driver = eventually(
            lambda: (
                (text := scrape("/metrics/prometheus")) and "tidemark_driver" in text and "inputRate" in text and text
            ),
            120,
            "Spark's streaming metrics on /metrics/prometheus",
        )
        assert "metrics_tidemark_driver_BlockManager_memory_memUsed_MB_Number" in driver
        assert "spark_info" in (scrape("/metrics/executors/prometheus") or "") or scrape(
            "/metrics/executors/prometheus"
        )
    finally:
        ingest.terminate()
        ingest.wait(timeout=60)
