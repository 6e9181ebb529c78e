"""The ads stream with a real schema registry (Apicurio, Confluent API): the producer registers
AdEvent and frames its id, ingest fetches writer schemas by id, an evolved writer schema is
read into AdEvent, and an id the registry does not know is a reject; a URL that is not the
registry's Confluent API stops ingest before it reads a message."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fastavro
from cassandra.cluster import Session

from local import stack, supervisor
from oracles.ads import expected_windows
from producer.ads import encode, register_schema
from wire.formats import AD_EVENT_SCHEMA, confluent_frame

from .conftest import ROOT
from .pipeline import Pipeline
from .test_continuous_driver import start_driver

# A later version of the producer's schema: one more field, which readers of AdEvent skip.
EVOLVED = {**AD_EVENT_SCHEMA, "fields": [*AD_EVENT_SCHEMA["fields"], {"name": "campaign", "type": "string"}]}


# The registry's server, but no API of it: it answers 404 for every path under it.
WRONG_PATH = f"http://{stack.HOST}:{stack.PORTS['registry']}/wrong"


def register(subject: str, schema: dict[str, Any]) -> int:
    return register_schema(stack.REGISTRY_URL, subject, schema)


def test_ads_through_a_real_schema_registry(spark: Any, tmp_path: Path, cassandra: Session) -> None:
    pipeline = Pipeline(spark, tmp_path, streams=("ads",))
    pipeline.migrate()
    registry = {"TIDEMARK_SCHEMA_REGISTRY_URL": stack.REGISTRY_URL}
    produced = pipeline.run_main(
        "producer",
        extra_env={
            **registry,
            "TIDEMARK_PRODUCER_STREAM": "ads",
            "TIDEMARK_PRODUCER_RATE": "0",
            "TIDEMARK_PRODUCER_MAX_EVENTS": "60",
            "TIDEMARK_PRODUCER_METRICS_PORT": "0",
            "TIDEMARK_PRODUCER_ADS_DUPLICATE_RATE": "0",
        },
    )
    assert produced.returncode == 0, produced.stderr[-2000:]
    registered = register(f"{pipeline.name}.ads-value", AD_EVENT_SCHEMA)  # the producer's, found again

    evolved_id = register(f"{pipeline.name}.evolved-value", EVOLVED)
    at = (datetime.now(timezone.utc) - timedelta(minutes=3)).replace(tzinfo=None).isoformat()
    record = {"ad_id": "ad_evolved", "timestamp": at, "clicks": 4, "views": 40, "cost": 2.5}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(EVOLVED), {**record, "campaign": "spring"})
    evolved = confluent_frame(evolved_id, body.getvalue())
    unknown = confluent_frame(987_654, encode(record)[5:])
    pipeline.send_messages("ads", [(b"ad_evolved", evolved), (b"ad_evolved", unknown)])

    ingested = pipeline.ingest(schema_registry_url=stack.REGISTRY_URL)
    pipeline.aggregate()

    assert dict(ingested.rejected_by_stream) == {("ads", "unknown_schema_id"): 1}
    ids = {r.schema_id for r in cassandra.execute(f"SELECT schema_id FROM {pipeline.name}.ads_raw")}
    assert ids == {registered, evolved_id}
    sent = [r.value for r in _consume(f"{pipeline.name}.ads")]
    assert {int.from_bytes(v[1:5], "big") for v in sent} == {registered, evolved_id, 987_654}
    # The evolved record counts as the AdEvent it carries.
    plain = [v for v in sent if int.from_bytes(v[1:5], "big") == registered] + [encode(record)]
    assert pipeline.ad_windows() == {
        k: {c: w[c] for c in ("window_end", "total_clicks", "total_views", "total_cost", "event_count",
                               "avg_cost_per_view")}
        for k, w in expected_windows(plain).items()
    }  # fmt: skip


def test_ingest_stops_before_reading_on_a_registry_url_that_is_no_registry(
    spark: Any, tmp_path: Path, cassandra: Session
) -> None:
    pipeline = Pipeline(spark, tmp_path, streams=("ads",))
    pipeline.migrate()
    at = (datetime.now(timezone.utc) - timedelta(minutes=3)).replace(tzinfo=None).isoformat()
    pipeline.send_messages(
        "ads", [(b"ad_1", encode({"ad_id": "ad_1", "timestamp": at, "clicks": 1, "views": 2, "cost": 0.5}))]
    )
    beat = tmp_path / "alive"
    beat.touch()  # the last beat of the container before this one (the probes' emptyDir keeps it)
    env = {"TIDEMARK_SCHEMA_REGISTRY_URL": WRONG_PATH, "TIDEMARK_INGEST_ALIVE_FILE": str(beat)}

    ingested = pipeline.run_main("jobs", "ingest", extra_env=env)

    assert ingested.returncode != 0, ingested.stderr[-3000:]
    said = ingested.stderr.strip().splitlines()[-1]
    assert f"TIDEMARK_SCHEMA_REGISTRY_URL={WRONG_PATH}" in said, ingested.stderr[-3000:]
    assert f"GET {WRONG_PATH}/subjects answered 404" in said, said
    assert not list(cassandra.execute(f"SELECT offset FROM {pipeline.name}.rejects"))
    assert not list(cassandra.execute(f"SELECT event_id FROM {pipeline.name}.ads_raw"))
    assert not (tmp_path / "checkpoints").exists(), "no query started"
    probe = subprocess.run(
        [sys.executable, "-m", "jobs.alive"],
        cwd=ROOT,
        env={**os.environ, **pipeline.env, **env},
        capture_output=True,
        text=True,
    )
    assert (probe.returncode, probe.stderr.strip()) == (
        1,
        f"{beat} does not exist: ingest has not beaten yet (starting)",
    )


def test_a_registry_killed_mid_run_is_waited_for_and_no_event_becomes_a_reject(
    spark: Any, tmp_path: Path, cassandra: Session
) -> None:
    """The continuous driver has read a first batch (its writer schema found); then the registry
    is killed (-9) and ads of a schema id not looked up yet arrive: their lookups are refused
    and wait until the registry is back, and every ad lands. None is a reject."""
    pipeline = Pipeline(spark, tmp_path, streams=("ads",))
    pipeline.migrate()
    first_id = register(f"{pipeline.name}.ads-value", AD_EVENT_SCHEMA)
    later_id = register(f"{pipeline.name}.evolved-value", EVOLVED)
    at = (datetime.now(timezone.utc) - timedelta(minutes=3)).replace(tzinfo=None).isoformat()
    records = [
        {"ad_id": f"ad_{i % 5}", "timestamp": at, "clicks": i % 3, "views": 10 + i, "cost": 0.25 * i} for i in range(50)
    ]
    pipeline.send_messages("ads", [(r["ad_id"].encode(), encode(r, first_id)) for r in records[:25]])
    registry = next(s for s in stack.SERVICES if s.name == "registry")
    env = {
        **os.environ,
        **pipeline.env,
        "TIDEMARK_SCHEMA_REGISTRY_URL": stack.REGISTRY_URL,
        "TIDEMARK_SCHEMA_REGISTRY_WAIT_SECONDS": "180",
        "TIDEMARK_INGEST_TRIGGER": "continuous",
        "TIDEMARK_INGEST_INTERVAL_SECONDS": "1",
    }
    ingest = start_driver(env)
    said: list[str] = []
    first_batch = threading.Event()

    def read() -> None:
        assert ingest.stdout is not None
        for line in ingest.stdout:
            said.append(line)
            if "ads batch 0: 25 raw" in line:
                first_batch.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert first_batch.wait(300), "".join(said[-50:])
        pid = registry.pid()
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
        while registry.pid() is not None or supervisor.port_open(registry.port):
            time.sleep(0.2)
        later = []
        for r in records[25:]:
            body = io.BytesIO()
            fastavro.schemaless_writer(body, fastavro.parse_schema(EVOLVED), {**r, "campaign": "autumn"})
            later.append((r["ad_id"].encode(), confluent_frame(later_id, body.getvalue())))
        pipeline.send_messages("ads", later)
        time.sleep(15)  # the lookups of later_id are refused meanwhile
        back = subprocess.run(
            [sys.executable, "local/stack.py", "up", "registry"], cwd=ROOT, capture_output=True, text=True
        )
        assert back.returncode == 0, back.stderr[-2000:]
        deadline = time.monotonic() + 300
        while len(raw := list(cassandra.execute(f"SELECT schema_id FROM {pipeline.name}.ads_raw"))) < 50:
            assert ingest.poll() is None and time.monotonic() < deadline, "".join(said[-80:])
            time.sleep(1)
    finally:
        if registry.pid() is None:
            subprocess.run([sys.executable, "local/stack.py", "up", "registry"], cwd=ROOT, capture_output=True)
        os.killpg(ingest.pid, signal.SIGTERM)
        ingest.wait(timeout=120)
        reader.join(timeout=10)
    log = "".join(said)
    assert "did not answer GET" in log and "asking again" in log, "the outage did not reach a lookup:\n" + log[-5000:]
    assert not list(cassandra.execute(f"SELECT offset FROM {pipeline.name}.rejects"))
    assert sorted(r.schema_id for r in raw) == [first_id] * 25 + [later_id] * 25


def _consume(topic: str) -> list[Any]:
    from .test_stack import consume

    return list(consume(topic, 62, timeout_s=30))
