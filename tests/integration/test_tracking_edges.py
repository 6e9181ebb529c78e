"""Bad input, cost that follows new data only, CSV replay and CDC re-stamping."""

from __future__ import annotations

import csv
import hashlib
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from local import debezium, stack, tls
from producer import recruit
from producer.beacons import Mix, timeuuid_at
from producer.catalog import synthetic_catalog
from producer.settings import ProducerSettings
from wire.formats import BEACON_FIELDS

from .conftest import CONNECT_URL, connector_task_state, create_connector, eventually, http_json
from .pipeline import Pipeline
from .test_stack import consume
from .test_tracking_pipeline import assert_matches_oracle, factory

PLAIN = Mix(late_rate=0, duplicate_rate=0)


def valid_beacon(rng_seed: int, at: datetime) -> dict[str, Any]:
    return next(factory(rng_seed, PLAIN).stream(1, at))


def test_malformed_input_lands_in_rejects_and_the_stream_flows(spark: Any, tmp_path: Path) -> None:
    import random

    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    now = datetime.now(timezone.utc)
    rng = random.Random(5)
    good = list(factory(21, PLAIN).stream(300, now, spread=timedelta(minutes=5)))
    template = dict(good[0])

    def variant(**changes: Any) -> bytes:
        return orjson.dumps({**template, "create_time": timeuuid_at(now, rng), **changes})

    bad = {
        "bad_json": b'{"create_time": "oops", "job_id": ',
        "invalid_type": variant(job_id="not-a-number"),
        "missing_create_time": orjson.dumps({k: v for k, v in template.items() if k != "create_time"}),
        "bad_create_time": variant(create_time=str(uuid.uuid4())),  # version 4: no time in it
        "absurd_time": variant(create_time=timeuuid_at(datetime(1999, 1, 1, tzinfo=timezone.utc), rng)),
        "oversize": variant(ua="x" * 20_000),
    }
    future = variant(create_time=timeuuid_at(now + timedelta(days=3), rng))
    payloads = [orjson.dumps(b) for b in good[:150]] + list(bad.values()) + [future]
    payloads += [orjson.dumps(b) for b in good[150:]]
    pipeline.send_payloads(payloads)
    pipeline.sent = good

    ingested = pipeline.ingest()
    pipeline.aggregate()

    assert dict(ingested.rejected) == {**dict.fromkeys(bad, 1), "absurd_time": 2}
    assert ingested.rows_written == len(good)

    cluster = stack.cassandra_cluster()
    rows = list(
        cluster.connect().execute(f"SELECT reason, detail, payload_sha256, topic, offset FROM {pipeline.name}.rejects")
    )
    cluster.shutdown()
    # By digest: the oversize payload is kept only in part.
    by_digest = {r.payload_sha256: r for r in rows}

    def reject_of(payload: bytes) -> Any:
        return by_digest[hashlib.sha256(payload).hexdigest()]

    for reason, payload in bad.items():
        assert reject_of(payload).reason == reason, reason
        assert reject_of(payload).topic == f"{pipeline.name}.tracking"
    assert reject_of(bad["invalid_type"]).detail == "job_id=not-a-number"
    assert reject_of(future).reason == "absurd_time"
    assert_matches_oracle(pipeline)


def test_a_run_reads_only_the_dirty_buckets_however_long_the_history(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    f = factory(31, PLAIN)

    def new_batch(at: datetime, count: int) -> int:
        # From at+5s to at+55s: one bucket.
        beacons = list(f.stream(count, at + timedelta(seconds=55), spread=timedelta(seconds=50)))
        pipeline.send(beacons)
        pipeline.ingest()
        return len({b["create_time"] for b in beacons})

    history = list(f.stream(2000, now - timedelta(hours=20), spread=timedelta(hours=2)))
    pipeline.send(history)
    pipeline.ingest()
    pipeline.aggregate()

    fresh = new_batch(now - timedelta(minutes=30), 300)
    small_history_run = pipeline.aggregate()

    more_history = list(f.stream(20000, now - timedelta(hours=15), spread=timedelta(hours=5)))
    pipeline.send(more_history)
    pipeline.ingest()
    pipeline.aggregate()

    fresh_again = new_batch(now - timedelta(minutes=10), 300)
    large_history_run = pipeline.aggregate()

    assert small_history_run.rows_read == fresh
    assert large_history_run.rows_read == fresh_again
    assert small_history_run.buckets_recomputed == large_history_run.buckets_recomputed == 1
    assert_matches_oracle(pipeline)


def test_replaying_a_csv_export_gives_the_oracle_numbers(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    beacons = list(factory(41).stream(1500, datetime.now(timezone.utc), spread=timedelta(hours=3)))
    export = tmp_path / "tracking.csv"
    with export.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(BEACON_FIELDS))
        writer.writeheader()
        for b in beacons:
            writer.writerow({k: "" if v is None else v for k, v in b.items()})

    done = pipeline.run_main(
        "producer", extra_env={"TIDEMARK_PRODUCER_REPLAY_FILE": str(export), "TIDEMARK_PRODUCER_METRICS_PORT": "0"}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sent 1500 beacons" in done.stderr
    pipeline.ingest()
    pipeline.aggregate()
    # What a CSV round trip means: an empty cell reads back as "no value".
    pipeline.sent = [
        {k: (None if v == "" and BEACON_FIELDS[k] != "text" else v) for k, v in b.items()} for b in beacons
    ]
    assert_matches_oracle(pipeline)


def test_a_company_change_in_mariadb_restamps_the_jobs_rows(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    catalog = synthetic_catalog(40, 5, seed=51)
    settings = ProducerSettings(recruit_database=f"{pipeline.name}_recruit", mysql_ca_file=str(tls.CA))
    conn = recruit.connect(settings)
    recruit.seed(conn, recruit.catalog_rows(catalog))

    connector = pipeline.name
    create_connector(
        CONNECT_URL,
        connector,
        debezium.config(f"{pipeline.name}_recruit", pipeline.name, server_id=uuid.uuid4().int % 1_000_000 + 10_000),
    )
    try:
        eventually(
            lambda: connector_task_state(CONNECT_URL, connector) == "RUNNING", 60, "the Debezium connector RUNNING"
        )
        companies = {j.id: j.company_id for j in catalog.jobs}
        # The snapshot of all jobs arrives first; the topic exists only once it has.
        consume(f"{pipeline.name}.{pipeline.name}_recruit.job", 40, timeout_s=90)
        eventually(
            lambda: pipeline.dims().rows_read and pipeline.sql("SELECT COUNT(*) FROM job_dim")[0][0] == 40,
            90,
            "the jobs snapshot in job_dim",
        )

        pipeline.send(
            list(factory(51, PLAIN, jobs=40).stream(800, datetime.now(timezone.utc), spread=timedelta(minutes=5)))
        )
        pipeline.ingest()
        pipeline.aggregate()
        assert_matches_oracle(pipeline, companies=companies)

        busiest = pipeline.sql("SELECT job_id FROM events GROUP BY job_id ORDER BY SUM(clicks) DESC LIMIT 1")[0][0]
        new_company = max(companies.values()) + 1
        conn.cursor().execute("INSERT INTO company (id, name) VALUES (%s, 'Acquirer Inc')", (new_company,))
        conn.cursor().execute("UPDATE job SET company_id = %s WHERE id = %s", (new_company, busiest))
        companies[busiest] = new_company

        def restamped() -> bool:
            pipeline.dims()
            return pipeline.sql("SELECT company_id FROM job_dim WHERE job_id = %s", busiest)[0][0] == new_company

        eventually(restamped, 60, "the company change in job_dim", interval_s=1)
        assert_matches_oracle(pipeline, companies=companies)
        assert pipeline.sql("SELECT DISTINCT company_id FROM events WHERE job_id = %s", busiest) == [(new_company,)]
    finally:
        http_json(f"{CONNECT_URL}/connectors/{connector}", method="DELETE")
        conn.close()
