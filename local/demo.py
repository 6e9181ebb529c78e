"""`make demo`: the tracking pipeline end to end on the local stack, then a readable summary.

Migrates, registers the Debezium connector for recruit.job, runs the producer for about a
minute (seeding the recruit tables and moving a job to another company now and then),
runs dims, ingest and aggregate exactly as the CronJobs would (`python -m jobs <name>`),
and prints top jobs, spend per hour, rejects and freshness. Each step's log is kept under
.stack/logs/demo-<step>.log.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from local import debezium, stack

ENV = stack.tidemark_env()
PRODUCER = {
    "TIDEMARK_PRODUCER_SEED_RECRUIT": "true",
    "TIDEMARK_PRODUCER_RATE": os.environ.get("DEMO_RATE", "300"),
    "TIDEMARK_PRODUCER_DURATION_SECONDS": os.environ.get("DEMO_SECONDS", "60"),
    "TIDEMARK_PRODUCER_MUTATE_JOBS_EVERY_SECONDS": "15",
}


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
        sys.exit(f"demo: {name} failed (exit {done.returncode}); log {log}:\n{stack.tail(log)}")


def table(title: str, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    print(f"\n{title}")
    cells = [
        header,
        *[tuple("—" if v is None else f"{v:,.2f}" if isinstance(v, float) else str(v) for v in r) for r in rows],
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for i, row in enumerate(cells):
        print("  " + "  ".join(value.rjust(w) for value, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


def summary() -> None:
    import mysql.connector
    from cassandra.cluster import Cluster

    conn = mysql.connector.connect(
        host=stack.HOST,
        port=stack.PORTS["mariadb"],
        user=stack.GRAFANA_USER,
        password=stack.GRAFANA_PASSWORD,
        database="analytics",
    )
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
    )
    table(
        "Spend per hour (UTC)",
        ("date", "hour", "clicks", "impressions", "spend", "jobs"),
        query(
            "SELECT dates, hours, SUM(clicks), SUM(impressions), SUM(spend_hour), COUNT(DISTINCT job_id) FROM events "
            "GROUP BY dates, hours ORDER BY dates DESC, hours DESC LIMIT 8"
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

    cluster = Cluster([stack.HOST], port=stack.PORTS["cassandra"], protocol_version=5)
    session = cluster.connect()
    reasons: dict[str, int] = {}
    for row in session.execute("SELECT reason FROM tidemark.rejects"):
        reasons[row.reason] = reasons.get(row.reason, 0) + 1
    raw = session.execute("SELECT COUNT(*) FROM tidemark.tracking_raw").one()[0]
    cluster.shutdown()
    table(
        "Raw and rejected",
        ("raw beacons in Cassandra", "rejected", "by reason"),
        [(raw, sum(reasons.values()), ", ".join(f"{k}={v}" for k, v in sorted(reasons.items())) or "none")],
    )


def main() -> int:
    step("migrate", "-m", "jobs", "migrate")
    debezium.register()
    step("producer", "-m", "producer", env=PRODUCER)
    step("dims", "-m", "jobs", "dims")
    step("ingest", "-m", "jobs", "ingest")
    step("aggregate", "-m", "jobs", "aggregate")
    summary()
    print()
    step("preview", "-m", "observability.preview")
    print(f"  dashboard previews: {stack.ROOT / 'out'}/tidemark-recruitment.png, tidemark-pipeline.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
