"""Runs a dashboard panel's query the way Grafana would: SQL against MySQL (with the
$__timeFilter macro expanded) and PromQL against Prometheus."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from datetime import datetime
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


def run_promql(prometheus: str, panel: Panel, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Series as Prometheus returns them: a range for time series, an instant otherwise."""
    if panel.kind == "timeseries":
        step = max(5, int((end - start).total_seconds() // 200))
        params = {"query": panel.query, "start": start.timestamp(), "end": end.timestamp(), "step": step}
        path = "query_range"
    else:
        params = {"query": panel.query, "time": end.timestamp()}
        path = "query"
    url = f"{prometheus}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.loads(r.read())
    if body["status"] != "success":
        raise RuntimeError(f"{panel.title}: {body}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result
