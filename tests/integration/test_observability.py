"""Every dashboard panel shows exactly what a real run must have produced, as the oracles
compute it from what was sent (panel_oracle.py), and the previews show data too; freshness and
failures are visible; runs of two streams or two installs sharing the Pushgateway keep their
own series. Each pipeline pushes as its own install (release = its name)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import delete_from_gateway

from jobs.metrics import RunMetrics
from jobs.settings import LOCAL_RELEASE
from local import stack, topics
from observability.dashboards import BUSINESS, PIPELINE, Panel
from observability.preview import previews
from observability.queries import run_promql, run_sql
from producer.ads import AdEventFactory
from producer.beacons import Mix
from producer.orders import OrderFactory, synthetic_customers, upsert_customers
from producer.userlogs import PART, UserLogFactory

from .conftest import KAFKA, PROMETHEUS_URL, PUSHGATEWAY, ROOT, eventually, mysql_connect
from .panel_oracle import BUSINESS as expected_rows
from .panel_oracle import PIPELINE as expected_series
from .panel_oracle import Range, Ranked, Sent
from .pipeline import Pipeline
from .test_tracking_pipeline import factory


def job(pipeline: Pipeline, name: str, **env: str) -> subprocess.CompletedProcess[str]:
    push = {"TIDEMARK_PUSHGATEWAY": PUSHGATEWAY, "TIDEMARK_RELEASE": pipeline.name}
    return pipeline.run_main("jobs", name, extra_env={**push, **env})


def pushed_groups(release_prefix: str) -> list[dict[str, Any]]:
    """The Pushgateway's groups of the releases named so: their labels and metric families."""
    with urllib.request.urlopen(f"http://{PUSHGATEWAY}/api/v1/metrics", timeout=10) as r:
        groups: list[dict[str, Any]] = json.loads(r.read())["data"] or []
    return [g for g in groups if g["labels"].get("release", "").startswith(release_prefix)]


def forget_pushes(release_prefix: str) -> None:
    """Deletes what tests pushed as these releases: the Pushgateway would keep it for ever."""
    for group in pushed_groups(release_prefix):
        labels = dict(group["labels"])
        delete_from_gateway(PUSHGATEWAY, job=labels.pop("job"), grouping_key=labels)


def instant(query: str) -> list[dict[str, Any]]:
    now = datetime.now(timezone.utc)
    return run_promql(PROMETHEUS_URL, Panel("q", "stat", query, ()), now, now)


def value(query: str) -> float | None:
    result = instant(query)
    return float(result[0]["value"][1]) if result else None


def tracking(pipeline: Pipeline) -> str:
    """A selector of the pipeline's tracking series."""
    return f'{{stream="tracking", release="{pipeline.name}"}}'


def prometheus_caught_up(pipeline: Pipeline) -> None:
    """Waits until Prometheus has scraped what the pipeline's last aggregate pushed."""
    newest = pipeline.sql("SELECT newest_event_time FROM watermarks WHERE stream = 'tracking'")[0][0]
    expected = newest.replace(tzinfo=timezone.utc).timestamp()
    query = f"tidemark_newest_event_timestamp_seconds{tracking(pipeline)}"
    eventually(lambda: value(query) == pytest.approx(expected, abs=1e-3), 30, f"Prometheus to see {newest}")

    def rule_caught_up() -> bool:
        # The recording rule runs on its own interval after the scrape.
        freshness = value(f"tidemark:freshness_seconds{tracking(pipeline)}")
        return freshness is not None and abs(freshness - (time.time() - expected)) < 5

    eventually(rule_caught_up, 30, "the freshness rule to follow the push")


# Every awkward beacon, few enough hours late that each stream's aggregate is one chunk, so the
# rows it writes are known; a few land before the business dashboard's range.
TRACKING_MIX = Mix(
    late_rate=0.05,
    late_max_hours=30,
    duplicate_rate=0.05,
    null_bid_rate=0.25,
    ed_only_rate=0.1,
    unattributed_rate=0.05,
    other_track_rate=0.05,
)
BAD_BEACONS = {"bad_json": b"not json", "bad_create_time": b'{"create_time": "nope"}'}
PRODUCER_RATE = 200


@pytest.fixture(scope="module")
def run(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pipeline, Sent]]:
    """A real run: the producer serving /metrics to Prometheus (into a topic of its own, so every
    number the jobs make is known) while ingest and aggregate push."""
    pipeline = Pipeline(spark, tmp_path_factory.mktemp("observed"), streams=("tracking", "ads", "orders", "userlogs"))
    pipeline.migrate()
    now = datetime.now(timezone.utc)
    customers = synthetic_customers(40, seed=71)
    shop = mysql_connect(f"{pipeline.name}_shop")
    upsert_customers(shop, customers)
    shop.close()
    orders = list(OrderFactory(customers=40).stream(300, now))
    pipeline.send_messages("orders", [(None, m) for m in orders])
    pipeline.send(list(factory(71, TRACKING_MIX).stream(400, now, spread=timedelta(minutes=20))))
    pipeline.send_payloads(list(BAD_BEACONS.values()))
    logs = list(UserLogFactory(seed=71).stream(30, now))
    for part in PART:
        pipeline.send_messages(f"userlogs_{part}", [(None, v) for p, v in logs if p == part])
    ads = list(AdEventFactory(seed=71, ads=8, backdate_max_seconds=600).stream(600, now))
    pipeline.send_messages("ads", ads)
    sent = Sent(
        beacons=list(pipeline.sent),
        bad_beacons=BAD_BEACONS,
        ads=[value for _, value in ads],
        orders=orders,
        customers={c["ID"]: (c["Source"], c["State"]) for c in customers},
        userlogs=logs,
        topics=[
            f"{pipeline.name}.{stream}" for stream in ("tracking", "ads", "orders", *(f"userlogs_{p}" for p in PART))
        ],
        producer_rate=PRODUCER_RATE,
    )
    chunk = pipeline.settings().aggregate_chunk_buckets
    assert max(sent.buckets().values()) <= chunk, f"more than one chunk: {sent.buckets()}"

    producer_topic = f"{pipeline.name}.producer-only"
    topics.ensure(KAFKA, [producer_topic])
    producer = subprocess.Popen(
        [sys.executable, "-m", "producer"],
        cwd=ROOT,
        env={
            **os.environ,
            **pipeline.env,
            "TIDEMARK_TRACKING_TOPIC": producer_topic,
            "TIDEMARK_PRODUCER_RATE": str(PRODUCER_RATE),
            "TIDEMARK_PRODUCER_METRICS_PORT": "18000",
        },
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
            started = time.time()
            done = job(pipeline, name)
            sent.jobs[f"tidemark_{name}"] = (started, time.time())
            assert done.returncode == 0, done.stderr[-3000:]
        prometheus_caught_up(pipeline)
        yield pipeline, sent
    finally:
        producer.terminate()
        producer.wait(timeout=30)
        forget_pushes(pipeline.name)


@pytest.fixture(scope="module")
def observed(run: tuple[Pipeline, Sent]) -> Pipeline:
    return run[0]


@pytest.fixture(scope="module")
def sent(run: tuple[Pipeline, Sent]) -> Sent:
    return run[1]


@pytest.mark.parametrize("panel", BUSINESS.panels, ids=lambda p: p.title)
def test_every_business_panel_shows_what_was_sent_as_the_read_only_user(
    observed: Pipeline, sent: Sent, panel: Panel
) -> None:
    assert panel.title in expected_rows, f"{panel.title}: no expectation in panel_oracle.BUSINESS"
    end = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(hours=1)
    conn = mysql_connect(observed.name, user=stack.GRAFANA_USER, password=stack.GRAFANA_PASSWORD)
    try:
        for _ in range(3):
            # A panel that reads the clock (the newest complete window) is checked against the
            # oracle at a moment on the same side of a window's end as the query.
            before = Range(end - timedelta(hours=26), end, datetime.now(timezone.utc).replace(tzinfo=None))
            columns, rows = run_sql(conn, panel, before.start, before.end)
            after = replace(before, now=datetime.now(timezone.utc).replace(tzinfo=None))
            want = expected_rows[panel.title](sent, before)
            if want == expected_rows[panel.title](sent, after):
                break
    finally:
        conn.close()
    assert tuple(columns) == panel.columns
    assert rows, f"{panel.title}: no rows"
    if isinstance(want, Ranked):
        want.check(rows)
    else:
        assert rows == want


@pytest.mark.parametrize("panel", PIPELINE.panels, ids=lambda p: p.title)
def test_every_pipeline_panel_shows_what_the_run_did(observed: Pipeline, sent: Sent, panel: Panel) -> None:
    assert panel.title in expected_series, f"{panel.title}: no expectation in panel_oracle.PIPELINE"
    # The run's own series, as its install's dashboard picks them: its release, or for the
    # producer (scraped by the local stack, not pushed) the local stack's.
    release = LOCAL_RELEASE if "tidemark_producer_" in panel.query else observed.name

    def newest() -> dict[tuple[str, ...], float]:
        # The last half minute: a producer that stopped before (the demo's, under the same
        # release) has no series in it.
        now = datetime.now(timezone.utc)
        shown = {}
        for s in run_promql(PROMETHEUS_URL, panel, now - timedelta(seconds=30), now, releases=[release]):
            labels = {k: v for k, v in s["metric"].items() if k != "__name__"}  # a recording rule's series keep it
            assert labels.pop("release") == release, (panel.title, s["metric"])
            assert set(labels) == set(panel.columns) - {"release"}, (panel.title, s["metric"])
            point = s["values"][-1] if "values" in s else s["value"]
            shown[tuple(labels[c] for c in panel.columns if c != "release")] = float(point[1])
        return shown

    shown = eventually(newest, 30, f"data for {panel.title!r}")
    assert shown == expected_series[panel.title](sent, time.time())


def test_every_preview_panel_shows_a_run_pushed_the_moment_before(observed: Pipeline, tmp_path: Path) -> None:
    """As `make demo` ends: a job pushes and exits, and the previews render at once, with no
    retry. Every panel of both shows data; the pipeline's shows that very run (pushed as an
    install of its own that Prometheus has never seen before)."""
    release = f"{observed.name}/preview"
    observed.send(list(factory(63).stream(100, datetime.now(timezone.utc), spread=timedelta(seconds=5))))
    observed.send_payloads([b"not json"])
    for run in (observed.ingest(), observed.aggregate()):
        replace(run, release=release).push(PUSHGATEWAY, ok=True)

    conn = mysql_connect(observed.name, user=stack.GRAFANA_USER, password=stack.GRAFANA_PASSWORD)
    try:
        # Picked beside the local stack's install, whose producer the stack scrapes.
        picked = [release, LOCAL_RELEASE]
        shown = {p.path.stem: p for p in previews(tmp_path, conn, PROMETHEUS_URL, PUSHGATEWAY, picked)}
    finally:
        conn.close()

    for preview in shown.values():
        assert not preview.empty, f"{preview.path.name}: no data in {preview.empty}"
    pipeline = shown[PIPELINE.uid].data
    for panel in PIPELINE.panels:
        releases = {s["metric"].get("release") for s in pipeline[panel.title]}
        assert releases <= set(picked), f"{panel.title}: {releases} besides the picked ones"
        if "tidemark_producer_" not in panel.query:
            assert release in releases, f"{panel.title}: only {releases}"


def test_freshness_objective_is_the_charts_value_for_the_local_install() -> None:
    """The objective "Freshness vs objective" draws reaches Prometheus from the chart's rules."""
    values = yaml.safe_load((ROOT / "charts" / "tidemark" / "values.yaml").read_text())
    (panel,) = [p for p in PIPELINE.panels if p.title == "Freshness vs objective"]
    now = datetime.now(timezone.utc)
    (objective,) = run_promql(PROMETHEUS_URL, panel, now, now, releases=[LOCAL_RELEASE], query=panel.also[0].query)
    assert objective["metric"]["release"] == LOCAL_RELEASE
    assert float(objective["values"][-1][1]) == values["monitoring"]["freshnessSloSeconds"]


def test_two_streams_and_two_installs_pushing_the_same_metric_keep_theirs() -> None:
    """Ingest's aggregate after each batch pushes one stream at a time, and installs may share
    a Pushgateway: no push replaces another stream's or another install's series."""
    prefix = f"t_{uuid.uuid4().hex[:10]}"
    pushed = {}
    try:
        for i, (release, stream) in enumerate(itertools.product((f"{prefix}/a", f"{prefix}/b"), ("tracking", "ads"))):
            run = RunMetrics("aggregate", release=release)
            run.newest_event_timestamp[stream] = pushed[release, stream] = 1_700_000_000.0 + i
            run.push(PUSHGATEWAY, ok=True)
        held = {
            (g["labels"]["release"], g["labels"].get("stream")): float(metric["value"])
            for g in pushed_groups(prefix)
            for metric in g.get("tidemark_newest_event_timestamp_seconds", {}).get("metrics", [])
        }
    finally:
        forget_pushes(prefix)
    assert held == pushed


def test_the_read_only_user_cannot_write(observed: Pipeline) -> None:
    import mysql.connector

    conn = mysql_connect(observed.name, user=stack.GRAFANA_USER, password=stack.GRAFANA_PASSWORD)
    with pytest.raises(mysql.connector.errors.ProgrammingError, match="denied"):
        conn.cursor().execute("DELETE FROM events")
    conn.close()


def test_freshness_rises_while_paused_and_falls_after_a_run(observed: Pipeline) -> None:
    query = f"tidemark:freshness_seconds{tracking(observed)}"
    before = value(query)
    assert before is not None
    paused = eventually(lambda: (v := value(query)) is not None and v > max(before, 60) and v, 90, "freshness to rise")

    observed.send(list(factory(61).stream(200, datetime.now(timezone.utc), spread=timedelta(seconds=5))))
    observed.ingest()
    # In-process runs are quick, so what is measured is the run, not Spark's start-up.
    replace(observed.aggregate(), release=observed.name).push(PUSHGATEWAY, ok=True)
    prometheus_caught_up(observed)
    after = value(query)
    assert after is not None and after < paused - 20, (before, paused, after)


def test_a_failed_run_keeps_its_last_success_and_shows_the_failure(observed: Pipeline) -> None:
    selector = f'{{job="tidemark_aggregate", stream="tracking", release="{observed.name}"}}'
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

    def tracking_input_rate() -> str | None:
        """Spark's gauge of the rows per second the tracking query's last batch read, fed
        each poll so that some batch of this driver reads rows."""
        observed.send(list(factory(64).stream(20, datetime.now(timezone.utc))))
        text = scrape("/metrics/prometheus") or ""
        rates = [line for line in text.splitlines() if "ingest_tracking" in line and "inputRate" in line]
        return next((line for line in rates if float(line.rsplit(" ", 1)[1]) > 0), None)

    try:
        eventually(
            lambda: (text := scrape("/metrics/prometheus")) and "tidemark_driver" in text and "inputRate" in text,
            180,
            "Spark's streaming metrics on /metrics/prometheus",
        )
        eventually(tracking_input_rate, 120, "Spark's tracking input rate above 0", interval_s=3)
        driver = scrape("/metrics/prometheus") or ""
        assert "metrics_tidemark_driver_BlockManager_memory_memUsed_MB_Number" in driver
        # The executors' page is slow to render on a busy machine: give it a deadline, not one try.
        eventually(lambda: scrape("/metrics/executors/prometheus"), 60, "Spark's executor metrics")
    finally:
        ingest.terminate()
        ingest.wait(timeout=60)
