"""`make demo`: every stream end to end on the local stack, then a readable summary.

Migrates, registers the Debezium connector for recruit.job, runs every stream's producer for
about a minute (tracking seeds the recruit tables and moves a job to another company now and
then; ads sends Confluent-framed Avro with byte-identical re-sends) and a malformed message on each topic,
runs dims, ingest and aggregate exactly as the CronJobs would (`python -m jobs <name>`),
and prints top jobs, spend per hour, top ads per window, rejects and freshness. Each step's log is kept under
.stack/logs/demo-<step>.log. It ends with PNG previews of the dashboards, every panel showing this run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from jobs.settings import JobSettings, from_variables
from local import debezium, stack, supervisor

ENV = stack.tidemark_env()
SECONDS = os.environ.get("DEMO_SECONDS", "60")
# Every stream's producer runs, at DEMO_<STREAM>_RATE messages/s: these rates, or 5/s for a
# stream not listed. What only one stream's producer reads is set for all of them: tracking
# seeds the recruit tables and moves a job to another company now and then, orders moves a
# customer to another state.
RATES = {"tracking": 300, "ads": 100, "orders": 50}
PRODUCERS = {
    "TIDEMARK_PRODUCER_DURATION_SECONDS": SECONDS,
    "TIDEMARK_PRODUCER_SEED_RECRUIT": "true",
    "TIDEMARK_PRODUCER_MUTATE_JOBS_EVERY_SECONDS": "15",
    "TIDEMARK_PRODUCER_MOVE_CUSTOMER_EVERY_SECONDS": "15",
}
# A real feed carries some bad input: a message that is no stream's event, on every topic,
# shows where it goes (the rejects table, the "Rejects by reason" panel) without holding up
# the rest.
MALFORMED = b"\x01 not an event"


def producer_env(stream: str, index: int) -> dict[str, str]:
    """The settings of the demo's producer of `stream`, the `index`th of them."""
    rate = os.environ.get(f"DEMO_{stream.upper()}_RATE", str(RATES.get(stream, 5)))
    return {
        **PRODUCERS,
        "TIDEMARK_PRODUCER_STREAM": stream,
        "TIDEMARK_PRODUCER_RATE": rate,
        "TIDEMARK_PRODUCER_METRICS_PORT": str(stack.producer_metrics_ports()[index]),
    }


def background_producer(name: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    log = stack.STACK / "logs" / f"demo-producer-{name}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "producer"],
            env={**os.environ, **ENV, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=stack.ROOT,
        )
    return proc, log


def job_settings() -> JobSettings:
    """The settings the demo's jobs run with."""
    return from_variables(ENV)


def send_malformed() -> None:
    from kafka import KafkaProducer

    from jobs.streams import STREAMS, topics_of
    from local import kafka_users

    settings = job_settings()
    topics = [topic for name in STREAMS for topic in topics_of(settings, name)]
    producer = KafkaProducer(**kafka_users.kafka_python(settings.kafka_bootstrap, kafka_users.PRODUCER))
    for topic in topics:
        producer.send(topic, MALFORMED)
    producer.flush()
    producer.close()
    print(f"→ malformed  one to each of {', '.join(topics)}", flush=True)


def step(name: str, *argv: str, env: dict[str, str] | None = None) -> None:
    log = stack.STACK / "logs" / f"demo-{name}.log"
    started = time.monotonic()
    print(f"→ {name:10} {' '.join(argv)}", flush=True)
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, *argv],
            env={**os.environ, **ENV, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=stack.ROOT,
        )
    tail = [line for line in log.read_text().splitlines() if " done: " in line or " sent " in line or "→" in line]
    note = tail[-1].split(" INFO ")[-1] if tail else ""
    print(f"  {time.monotonic() - started:5.1f}s  {note}", flush=True)
    if done.returncode != 0:
        sys.exit(f"demo: {name} failed (exit {done.returncode}); log {log}:\n{supervisor.tail(log)}")


def cell(value: Any, money: bool) -> str:
    """Counts as integers with separators; money with two decimals and no currency sign."""
    if value is None:
        return "—"
    if money:
        return f"{Decimal(str(value)):,.2f}"
    if isinstance(value, (int, Decimal)) and Decimal(value) == int(value):
        return f"{int(value):,}"
    return str(value)


def table(title: str, header: tuple[str, ...], rows: list[tuple[Any, ...]], money: tuple[int, ...] = ()) -> None:
    """Prints rows under a header; `money` names the columns (by index) that hold amounts."""
    print(f"\n{title}")
    cells = [header, *[tuple(cell(v, i in money) for i, v in enumerate(r)) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for i, row in enumerate(cells):
        print("  " + "  ".join(value.rjust(w) for value, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


def summary() -> None:

    conn = stack.mariadb_connect(stack.GRAFANA_USER, stack.GRAFANA_PASSWORD, "analytics")
    cur = conn.cursor()

    def query(sql: str) -> list[tuple[Any, ...]]:
        cur.execute(sql)
        return list(cur.fetchall())

    table(
        "Top jobs by clicks",
        ("job", "company", "clicks", "conversions", "qualified", "spend", "spend/click"),
        query(
            "SELECT job_id, MAX(company_id), SUM(clicks), SUM(conversion), SUM(qualified_application), "
            "SUM(spend_hour), SUM(spend_hour) / NULLIF(SUM(clicks), 0) FROM events "
            "GROUP BY job_id ORDER BY SUM(clicks) DESC LIMIT 8"
        ),
        money=(5, 6),
    )
    table(
        "Spend per hour (UTC)",
        ("date", "hour", "clicks", "impressions", "spend", "jobs"),
        query(
            "SELECT dates, hours, SUM(clicks), SUM(impressions), SUM(spend_hour), COUNT(DISTINCT job_id) FROM events "
            "GROUP BY dates, hours ORDER BY dates DESC, hours DESC LIMIT 8"
        ),
        money=(4,),
    )
    table(
        "Top ads in the newest complete 1-minute window (UTC)",
        ("ad", "window start", "clicks", "views", "cost", "cost/view", "events"),
        query(
            "SELECT ad_id, window_start, total_clicks, total_views, total_cost, avg_cost_per_view, event_count "
            "FROM ad_window_stats WHERE window_start = (SELECT MAX(window_start) FROM ad_window_stats "
            "WHERE window_end <= UTC_TIMESTAMP()) ORDER BY total_clicks DESC LIMIT 8"
        ),
        money=(4, 5),
    )
    table(
        "Sales by customer source and state (top 8)",
        ("source", "state", "sales", "orders", "last changed by run"),
        query(
            "SELECT source, state, total_sum_amount, order_count, batch_id FROM total_sales_by_source_state "
            "ORDER BY total_sum_amount DESC LIMIT 8"
        ),
        money=(2,),
    )
    table(
        "Orders",
        ("orders counted", "sales", "waiting for their customer", "customers"),
        query(
            "SELECT (SELECT SUM(order_count) FROM total_sales_by_source_state), "
            "(SELECT SUM(total_sum_amount) FROM total_sales_by_source_state), "
            "(SELECT COALESCE(SUM(u.orders), 0) FROM order_user_totals u "
            " LEFT JOIN customer_dim d ON d.id = u.user_id WHERE d.id IS NULL), "
            "(SELECT COUNT(*) FROM customer_dim)"
        ),
        money=(1,),
    )
    table(
        "User logs by hour (UTC, newest 4 hours)",
        ("hour", "sessions", "logins ok", "logins failed", "activity events"),
        query(
            "SELECT s.hour, s.sessions, "
            "(SELECT COALESCE(SUM(events), 0) FROM user_auth_hourly a WHERE a.hour = s.hour AND outcome = 'success'), "
            "(SELECT COALESCE(SUM(events), 0) FROM user_auth_hourly a WHERE a.hour = s.hour AND outcome = 'failure'), "
            "(SELECT COALESCE(SUM(events), 0) FROM user_activity_hourly v WHERE v.hour = s.hour) "
            "FROM user_sessions_hourly s ORDER BY s.hour DESC LIMIT 4"
        ),
    )
    table(
        "Job ↔ company (from CDC)",
        ("jobs in job_dim", "companies", "last change"),
        query("SELECT COUNT(*), COUNT(DISTINCT company_id), MAX(updated_at) FROM job_dim"),
    )
    table(
        "Freshness",
        ("stream", "newest event in MySQL", "seconds behind"),
        query(
            "SELECT stream, newest_event_time, TIMESTAMPDIFF(SECOND, newest_event_time, UTC_TIMESTAMP()) "
            "FROM watermarks"
        ),
    )
    conn.close()

    raw_and_rejected()


def raw_and_rejected() -> None:
    """Each stream's raw rows (a family's parts together) and rejects by reason."""
    from jobs.streams import STREAMS

    cluster = stack.cassandra_cluster()
    session = cluster.connect()
    family = {name: spec.stream for name, spec in STREAMS.items()}  # rejects name the family's part
    reasons: dict[str, dict[str, int]] = {}
    for row in session.execute("SELECT stream, reason FROM tidemark.rejects"):
        by_reason = reasons.setdefault(family.get(row.stream, row.stream), {})
        by_reason[row.reason] = by_reason.get(row.reason, 0) + 1
    raw: dict[str, int] = {}
    for spec in STREAMS.values():
        count = session.execute(f"SELECT COUNT(*) FROM tidemark.{spec.raw_table}").one()[0]
        raw[spec.stream] = raw.get(spec.stream, 0) + count
    cluster.shutdown()
    table(
        "Raw and rejected",
        ("stream", "raw rows", "rejected", "by reason"),
        [
            (
                stream,
                rows,
                sum(reasons.get(stream, {}).values()),
                ", ".join(f"{k}={v}" for k, v in sorted(reasons.get(stream, {}).items())) or "none",
            )
            for stream, rows in raw.items()
        ],
    )


def main() -> int:
    step("migrate", "-m", "jobs", "migrate")
    debezium.register()
    # Every stream's producer at once: the first as the step, the others in the background.
    from producer.streams import PRODUCERS

    first, *others = PRODUCERS
    background = {name: background_producer(name, producer_env(name, i + 1)) for i, name in enumerate(others)}
    step("producer", "-m", "producer", env=producer_env(first, 0))
    for name, (proc, log) in background.items():
        if proc.wait() != 0:
            sys.exit(f"demo: the {name} producer failed; log {log}:\n{supervisor.tail(log)}")
        print(f"  {name}: {supervisor.tail(log, 1).split(' INFO ')[-1]}", flush=True)
    send_malformed()
    step("dims", "-m", "jobs", "dims")
    step("ingest", "-m", "jobs", "ingest")
    step("aggregate", "-m", "jobs", "aggregate")
    summary()
    print()
    step("preview", "-m", "observability.preview", "--release", job_settings().release)
    print(f"  dashboard previews: {stack.ROOT / 'out'}/tidemark-business.png, tidemark-pipeline.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
