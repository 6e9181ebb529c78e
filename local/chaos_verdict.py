"""The chaos run's verdict: what its stores hold against the independent oracles, as lost and
double-counted events per stream."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


# --- the tally: pure ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """Events expected and counted, and how far off, summed over the keys."""

    expected: int
    counted: int
    lost: int
    double_counted: int


def tally(expected: Mapping[Any, int], counted: Mapping[Any, int], per_event: int = 1) -> Tally:
    """Compares per-key counts with the oracle's: a key short by n lost n events, a key over by n
    counted n twice; an event short on one key and extra on another counts in both. An event that
    counts in `per_event` keys (a sliding window's) makes `per_event` units, rounded up per side."""
    lost = sum(max(0, want - counted.get(key, 0)) for key, want in expected.items())
    extra = sum(max(0, got - expected.get(key, 0)) for key, got in counted.items())
    return Tally(
        expected=sum(expected.values()) // per_event,
        counted=sum(counted.values()) // per_event,
        lost=math.ceil(lost / per_event),
        double_counted=math.ceil(extra / per_event),
    )


@dataclass(frozen=True)
class RunStores:
    """A run's own database and keyspace on the local stack, both named after the run: what the
    comparison with the oracles reads (the chaos run's, and the node tier's release's)."""

    name: str

    def sql(self, query: str) -> list[tuple[Any, ...]]:

        from local import stack

        conn = stack.mariadb_connect(stack.OWNER_USER, stack.OWNER_PASSWORD, self.name)
        try:
            cursor = conn.cursor()
            cursor.execute(query)
            return list(cursor.fetchall())
        finally:
            conn.close()

    def execute(self, statement: str) -> None:
        """A statement that returns no rows (KILL, say), as the tables' owner."""

        from local import stack

        conn = stack.mariadb_connect(stack.OWNER_USER, stack.OWNER_PASSWORD)
        try:
            conn.cursor().execute(statement)
        finally:
            conn.close()

    def raw_counts(self, tables: list[str]) -> dict[str, int]:
        from local import stack

        cluster = stack.cassandra_cluster()
        try:
            session = cluster.connect()
            return {
                t: int(session.execute(f"SELECT COUNT(*) FROM {self.name}.{t}", timeout=300).one()[0]) for t in tables
            }
        finally:
            cluster.shutdown()


# --- comparing with the oracles ----------------------------------------------------------------


Sent = list[tuple[str, bytes]]  # (part, value) of each acknowledged send


def tracking_verdict(chaos: RunStores, sent: Sent) -> dict[str, Any]:
    from oracles import tracking as oracle

    beacons = [json.loads(v) for _, v in sent]
    companies = {int(j): int(c) for j, c in chaos.sql(f"SELECT id, company_id FROM `{chaos.name}_recruit`.job")}
    want = oracle.expected_events(beacons, companies=companies)
    columns = ("clicks", "conversion", "qualified_application", "disqualified_application", "impressions")
    rows = chaos.sql(
        "SELECT job_id, dates, hours, publisher_id, campaign_id, group_id, "
        + ", ".join(columns)
        + ", company_id, spend_hour, bid_set FROM events"
    )
    got = {tuple(r[:6]): r[6:] for r in rows}
    mismatched = sum(
        1
        for key, row in want.items()
        if key in got
        and (got[key][5], got[key][6], got[key][7]) != (row["company_id"], row["spend_hour"], row["bid_set"])
    )
    events = len({b["create_time"] for b in beacons})
    return stream_result(
        tally({k: sum(v[c] for c in columns) for k, v in want.items()}, {k: sum(v[:5]) for k, v in got.items()}),
        sent=events,
        raw={"tracking": events},
        mismatched=mismatched,
    )


def ads_verdict(chaos: RunStores, sent: Sent) -> dict[str, Any]:
    from oracles import ads as oracle

    values = [v for _, v in sent]
    windows = oracle.expected_windows(values)
    ad_rows = chaos.sql(
        "SELECT ad_id, window_start, event_count, total_clicks, total_views, total_cost FROM ad_window_stats"
    )
    got = {(r[0], r[1]): r[2:] for r in ad_rows}
    distinct = len(set(values))
    return stream_result(
        tally({k: w["event_count"] for k, w in windows.items()}, {k: int(v[0]) for k, v in got.items()}, per_event=2),
        sent=distinct,
        raw={"ads": distinct},
        mismatched=sum(
            1
            for k, w in windows.items()
            if k in got and tuple(got[k][1:]) != (w["total_clicks"], w["total_views"], w["total_cost"])
        ),
    )


def orders_verdict(chaos: RunStores, sent: Sent) -> dict[str, Any]:
    from oracles import orders as oracle

    messages = [v for _, v in sent]
    customers = {
        int(i): (s, st) for i, s, st in chaos.sql(f"SELECT id, source, state FROM `{chaos.name}_shop`.customers")
    }
    sales = oracle.expected_sales(messages, customers)
    got = {
        (r[0], r[1]): (r[2], int(r[3]))
        for r in chaos.sql("SELECT source, state, total_sum_amount, order_count FROM total_sales_by_source_state")
    }
    orders = len(oracle.orders_of(messages))
    return stream_result(
        tally({k: n for k, (_, n) in sales.items()}, {k: n for k, (_, n) in got.items()}),
        sent=orders,
        raw={"orders": orders},
        mismatched=sum(1 for k, (t, _) in sales.items() if k in got and abs(got[k][0] - t) > 1e-6),
    )


def userlogs_verdict(chaos: RunStores, sent: Sent) -> dict[str, Any]:
    from oracles import userlogs as oracle

    logs = oracle.expected(sent)
    want: dict[Any, int] = {("sessions", h): n for h, (n, _) in logs.sessions_hourly().items()}
    want |= {("auth", *k): n for k, n in logs.auth_hourly().items()}
    want |= {("activity", *k): n for k, n in logs.activity_hourly().items()}
    got: dict[Any, int] = {
        ("sessions", r[0]): int(r[1]) for r in chaos.sql("SELECT hour, sessions FROM user_sessions_hourly")
    }
    got |= {
        ("auth", r[0], r[1], r[2]): int(r[3])
        for r in chaos.sql("SELECT hour, outcome, detail, events FROM user_auth_hourly")
    }
    got |= {
        ("activity", r[0], r[1]): int(r[2])
        for r in chaos.sql("SELECT hour, event_type, events FROM user_activity_hourly")
    }
    raw = {
        "userlogs_session": len(logs.sessions),
        "userlogs_auth": len(logs.auth),
        "userlogs_activity": len(logs.activity),
    }
    return stream_result(tally(want, got), sent=sum(raw.values()), raw=raw, mismatched=0)


# Each stream's comparison with its oracle (oracles/): what its MySQL tables hold against the
# events sent, and the raw rows each of its parts must have.
VERDICTS: dict[str, Callable[[RunStores, Sent], dict[str, Any]]] = {
    "tracking": tracking_verdict,
    "ads": ads_verdict,
    "orders": orders_verdict,
    "userlogs": userlogs_verdict,
}


def compare(chaos: RunStores, sends: Mapping[str, list[tuple[str, bytes | None, bytes]]]) -> dict[str, dict[str, Any]]:
    """Per stream sent: distinct events sent, the aggregate tally and the raw row counts."""
    sys.path.insert(0, str(ROOT))
    from jobs.streams import STREAMS

    out = {
        stream: VERDICTS[stream](chaos, [(part, value) for part, _, value in sent]) for stream, sent in sends.items()
    }
    counts = chaos.raw_counts(sorted({STREAMS[part].raw_table for r in out.values() for part in r["_raw"]}))
    for result in out.values():
        wanted = result.pop("_raw")
        result["raw_expected"] = sum(wanted.values())
        result["raw_rows"] = sum(counts[STREAMS[part].raw_table] for part in wanted)
    return out


def stream_result(t: Tally, sent: int, raw: dict[str, int], mismatched: int) -> dict[str, Any]:
    """`raw`: the raw rows expected of each part (spec name) of the stream."""
    return {
        "events_sent": sent,
        "events_expected": t.expected,
        "events_counted": t.counted,
        "lost": t.lost,
        "double_counted": t.double_counted,
        "mismatched_keys": mismatched,
        "_raw": raw,
    }


TOTALS = ("events_sent", "events_expected", "events_counted", "lost", "double_counted", "mismatched_keys")


def table(result: Mapping[str, Any]) -> str:
    head = (
        f"{'stream':10} {'faults':>6} {'survived':>8} {'sent':>8} {'expected':>8} {'counted':>8} "
        f"{'lost':>5} {'twice':>5} {'raw rows/expected':>18} {'wrong':>5}"
    )
    lines = [head, "-" * len(head)]
    rows = [*result["streams"].items(), ("total", result)]
    for name, r in rows:
        lines.append(
            f"{name:10} {r['faults_injected']:>6} {r['faults_survived']:>8} {r['events_sent']:>8} "
            f"{r['events_expected']:>8} {r['events_counted']:>8} {r['lost']:>5} {r['double_counted']:>5} "
            f"{str(r['raw_rows']) + '/' + str(r['raw_expected']):>18} {r['mismatched_keys']:>5}"
        )
    return "\n".join(lines)
