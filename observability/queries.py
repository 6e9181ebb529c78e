"""Runs a dashboard panel's query the way Grafana would: SQL against MySQL (with the
$__timeFilter macro expanded) and PromQL against Prometheus; and waits until Prometheus holds
what the jobs pushed, so a panel read right after a run shows that run."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from observability.dashboards import Panel

MACRO = "$__timeFilter("


def expand_macros(sql: str, start: datetime, end: datetime) -> str:
    """Grafana's $__timeFilter(expr) for a [start, end] range, in UTC; expr may nest parentheses."""
    window = f"BETWEEN '{start:%Y-%m-%d %H:%M:%S}' AND '{end:%Y-%m-%d %H:%M:%S}'"
    while (at := sql.find(MACRO)) >= 0:
        depth, i = 1, at + len(MACRO)
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[i], 0)
            i += 1
        sql = f"{sql[:at]}{sql[at + len(MACRO) : i - 1]} {window}{sql[i:]}"
    return sql


def run_sql(conn: Any, panel: Panel, start: datetime, end: datetime) -> tuple[list[str], list[tuple[Any, ...]]]:
    cursor = conn.cursor()
    cursor.execute(expand_macros(panel.query, start, end))
    columns = [c[0] for c in cursor.description]
    return columns, list(cursor.fetchall())


def epoch(moment: datetime) -> float:
    """Seconds since the epoch; a naive datetime is UTC, as everywhere in tidemark (MySQL's
    DATETIMEs), never the machine's zone."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def picking(query: str, releases: Sequence[str] | None = None) -> str:
    """`query` as Grafana sends it with the dashboard's variables set: every namespace, and the
    `releases` picked (every one when None), as Grafana writes a multi-value pick into a regex."""
    picked = ".*" if releases is None else "(" + "|".join(re.escape(r) for r in releases) + ")"
    # The regex sits in a PromQL string, where a backslash is written twice.
    return query.replace("$namespace", ".*").replace("$release", picked.replace("\\", "\\\\"))


def run_promql(
    prometheus: str,
    panel: Panel,
    start: datetime,
    end: datetime,
    *,
    releases: Sequence[str] | None = None,
    query: str | None = None,
) -> list[dict[str, Any]]:
    """Series as Prometheus returns them for the panel's query (or `query`, one the panel also
    draws) of the `releases` picked: a range for time series, an instant otherwise."""
    expr = picking(query or panel.query, releases)
    if panel.kind == "timeseries":
        step = max(5, int((end - start).total_seconds() // 200))
        # Steps count back from `end`, so the newest point is `end` itself, not up to a step before.
        first = epoch(end) - step * ((epoch(end) - epoch(start)) // step)
        params = {"query": expr, "start": first, "end": epoch(end), "step": step}
        path = "query_range"
    else:
        params = {"query": expr, "time": epoch(end)}
        path = "query"
    body = get_json(f"{prometheus}/api/v1/{path}?{urllib.parse.urlencode(params)}")
    if body["status"] != "success":
        raise RuntimeError(f"{panel.title}: {body}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def newest_push(pushgateway: str) -> float:
    """When the newest group the Pushgateway holds was pushed (0 when it holds none)."""
    base = pushgateway if "://" in pushgateway else f"http://{pushgateway}"
    groups = get_json(f"{base}/api/v1/metrics")["data"] or []
    return max(
        (float(m["value"]) for g in groups for m in g.get("push_time_seconds", {}).get("metrics", [])), default=0.0
    )


def newest_push_scraped(prometheus: str) -> float:
    body = get_json(f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': 'max(push_time_seconds)'})}")
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def rfc3339(text: str) -> float:
    """Seconds since the epoch of Go's RFC 3339 time (any number of fraction digits, Z or an
    offset), which Python 3.10's fromisoformat does not read."""
    found = re.fullmatch(r"(.*:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    if not found:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    whole, fraction, zone = found.groups()
    return datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone)).timestamp() + float(f"0.{fraction or 0}")


def rules_evaluated_since(prometheus: str, moment: float) -> bool:
    groups = get_json(f"{prometheus}/api/v1/rules")["data"]["groups"]
    return all(rfc3339(g["lastEvaluation"]) > moment for g in groups)


def wait_for_pushes(prometheus: str, pushgateway: str, timeout_s: float = 30) -> str | None:
    """Waits until Prometheus has scraped everything the Pushgateway holds now and evaluated
    its rules on it (tidemark:freshness_seconds follows a push only after both); returns what
    is still behind at the deadline, or None. A job's run ends with its push: a panel read at
    once, as `make demo` does, would otherwise miss that run, or show no freshness at all."""
    pushed = newest_push(pushgateway)
    deadline = time.monotonic() + timeout_s
    while newest_push_scraped(prometheus) < pushed:
        if time.monotonic() > deadline:
            return f"Prometheus has not scraped the push of {datetime.fromtimestamp(pushed, timezone.utc):%H:%M:%S}"
        time.sleep(0.5)
    scraped = time.time()
    while not rules_evaluated_since(prometheus, scraped):
        if time.monotonic() > deadline:
            return "Prometheus has not evaluated its recording rules since it scraped the Pushgateway"
        time.sleep(0.5)
    return None
