"""tidemark's Grafana dashboards as code: the one source of the JSON under
charts/tidemark/files/dashboards/, of the PNG previews, and of the panel queries the
integration tests run against the local stack.

    python -m observability.dashboards          # regenerate the JSON
    python -m observability.dashboards --check  # exit 1 if the committed JSON is stale
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

OUT = Path(__file__).resolve().parent.parent / "charts" / "tidemark" / "files" / "dashboards"
MYSQL = {"type": "mysql", "uid": "tidemark-mysql"}
PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}

# The hour a row of `events` stands for, as a timestamp Grafana can plot.
HOUR = "TIMESTAMP(dates, MAKETIME(hours, 0, 0))"
IN_RANGE = f"$__timeFilter({HOUR})"


@dataclass(frozen=True)
class Panel:
    title: str
    kind: Literal["timeseries", "barchart", "table", "stat"]
    query: str
    # SQL: the columns the query returns. PromQL: the labels each series carries.
    columns: tuple[str, ...]
    unit: str = "short"
    legend: str = ""
    width: int = 12


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    datasource: dict[str, str]
    panels: tuple[Panel, ...]

    @property
    def is_sql(self) -> bool:
        return self.datasource is MYSQL


def hourly(column: str, alias: str) -> str:
    return f"SELECT {HOUR} AS time, SUM({column}) AS {alias} FROM events WHERE {IN_RANGE} GROUP BY 1 ORDER BY 1"


def ranked(dimension: str, alias: str) -> str:
    return (
        f"SELECT CAST({dimension} AS CHAR) AS {alias}, SUM(clicks) AS clicks, SUM(spend_hour) AS spend "
        f"FROM events WHERE {IN_RANGE} GROUP BY {dimension} ORDER BY clicks DESC LIMIT 10"
    )


# Ad windows in the time range; windows overlap (they slide every 30 s), so a sum over one
# window_start is one window's totals.
AD_WINDOWS = "$__timeFilter(window_start)"
NEWEST_COMPLETE_WINDOW = (
    f"(SELECT MAX(window_start) FROM ad_window_stats WHERE {AD_WINDOWS} AND window_end <= UTC_TIMESTAMP())"
)

BUSINESS = Dashboard(
    uid="tidemark-business",
    title="tidemark / Business",
    datasource=MYSQL,
    panels=(
        Panel("Clicks", "stat", f"SELECT SUM(clicks) AS clicks FROM events WHERE {IN_RANGE}", ("clicks",), width=6),
        Panel("Spend", "stat", f"SELECT SUM(spend_hour) AS spend FROM events WHERE {IN_RANGE}", ("spend",), width=6),
        Panel(
            "Conversion rate",
            "stat",
            f"SELECT SUM(conversion) / NULLIF(SUM(clicks), 0) AS conversion_rate FROM events WHERE {IN_RANGE}",
            ("conversion_rate",),
            unit="percentunit",
            width=6,
        ),
        Panel(
            "Spend per click",
            "stat",
            f"SELECT SUM(spend_hour) / NULLIF(SUM(clicks), 0) AS spend_per_click FROM events WHERE {IN_RANGE}",
            ("spend_per_click",),
            width=6,
        ),
        Panel("Clicks per hour", "timeseries", hourly("clicks", "clicks"), ("time", "clicks")),
        Panel("Spend per hour", "timeseries", hourly("spend_hour", "spend"), ("time", "spend")),
        Panel(
            "Conversions and applications per hour",
            "timeseries",
            f"SELECT {HOUR} AS time, SUM(conversion) AS conversions, SUM(qualified_application) AS qualified, "
            f"SUM(disqualified_application) AS unqualified FROM events WHERE {IN_RANGE} GROUP BY 1 ORDER BY 1",
            ("time", "conversions", "qualified", "unqualified"),
        ),
        Panel("Impressions per hour", "timeseries", hourly("impressions", "impressions"), ("time", "impressions")),
        Panel(
            "Top jobs",
            "table",
            "SELECT job_id, MAX(company_id) AS company_id, SUM(clicks) AS clicks, SUM(conversion) AS conversions, "
            "SUM(qualified_application) AS qualified, SUM(disqualified_application) AS unqualified, "
            f"SUM(spend_hour) AS spend FROM events WHERE {IN_RANGE} GROUP BY job_id ORDER BY clicks DESC LIMIT 15",
            ("job_id", "company_id", "clicks", "conversions", "qualified", "unqualified", "spend"),
            width=24,
        ),
        Panel(
            "By publisher", "barchart", ranked("publisher_id", "publisher"), ("publisher", "clicks", "spend"), width=8
        ),
        Panel("By campaign", "barchart", ranked("campaign_id", "campaign"), ("campaign", "clicks", "spend"), width=8),
        Panel("By company", "barchart", ranked("company_id", "company"), ("company", "clicks", "spend"), width=8),
        Panel(
            "Top ads in the newest complete window",
            "table",
            "SELECT ad_id, window_start, total_clicks AS clicks, total_views AS views, total_cost AS cost, "
            "avg_cost_per_view AS cost_per_view, event_count AS events FROM ad_window_stats "
            f"WHERE window_start = {NEWEST_COMPLETE_WINDOW} ORDER BY total_clicks DESC LIMIT 10",
            ("ad_id", "window_start", "clicks", "views", "cost", "cost_per_view", "events"),
            width=12,
        ),
        Panel(
            "Ad cost per view over time",
            "timeseries",
            "SELECT window_start AS time, SUM(total_cost) / NULLIF(SUM(total_views), 0) AS cost_per_view "
            f"FROM ad_window_stats WHERE {AD_WINDOWS} GROUP BY 1 ORDER BY 1",
            ("time", "cost_per_view"),
            width=12,
        ),
        Panel(
            "Ad clicks and views per window",
            "timeseries",
            "SELECT window_start AS time, SUM(total_clicks) AS clicks, SUM(total_views) AS views "
            f"FROM ad_window_stats WHERE {AD_WINDOWS} GROUP BY 1 ORDER BY 1",
            ("time", "clicks", "views"),
            width=24,
        ),
        Panel(
            "Orders counted",
            "stat",
            "SELECT SUM(order_count) AS orders FROM total_sales_by_source_state",
            ("orders",),
            width=6,
        ),
        Panel(
            "Sales",
            "stat",
            "SELECT SUM(total_sum_amount) AS sales FROM total_sales_by_source_state",
            ("sales",),
            width=6,
        ),
        Panel(
            "Sales by source",
            "barchart",
            "SELECT source, SUM(total_sum_amount) AS sales, SUM(order_count) AS orders "
            "FROM total_sales_by_source_state GROUP BY source ORDER BY sales DESC",
            ("source", "sales", "orders"),
            width=12,
        ),
        Panel(
            "Sales by state",
            "barchart",
            "SELECT state, SUM(total_sum_amount) AS sales, SUM(order_count) AS orders "
            "FROM total_sales_by_source_state GROUP BY state ORDER BY sales DESC LIMIT 15",
            ("state", "sales", "orders"),
            width=12,
        ),
        Panel(
            "Logins by outcome per hour",
            "timeseries",
            "SELECT hour AS time, SUM(IF(outcome = 'success', events, 0)) AS success, "
            "SUM(IF(outcome = 'failure', events, 0)) AS failure FROM user_auth_hourly "
            "WHERE $__timeFilter(hour) GROUP BY 1 ORDER BY 1",
            ("time", "success", "failure"),
            width=12,
        ),
        Panel(
            "Login failure reasons",
            "barchart",
            "SELECT detail AS reason, SUM(events) AS failures FROM user_auth_hourly "
            "WHERE outcome = 'failure' AND $__timeFilter(hour) GROUP BY detail ORDER BY failures DESC",
            ("reason", "failures"),
            width=12,
        ),
        Panel(
            "Sessions per hour",
            "timeseries",
            "SELECT hour AS time, sessions FROM user_sessions_hourly WHERE $__timeFilter(hour) ORDER BY 1",
            ("time", "sessions"),
            width=12,
        ),
        Panel(
            "Activity by type",
            "barchart",
            "SELECT event_type, SUM(events) AS events FROM user_activity_hourly "
            "WHERE $__timeFilter(hour) GROUP BY event_type ORDER BY events DESC",
            ("event_type", "events"),
            width=12,
        ),
        Panel(
            "Sales after each run",
            "timeseries",
            "SELECT processed_at AS time, total_sum_amount AS sales, order_count AS orders "
            "FROM sales_runs WHERE $__timeFilter(processed_at) ORDER BY 1",
            ("time", "sales", "orders"),
            width=12,
        ),
    ),
)

# Every tidemark series carries `release` (the install: the jobs push it, the chart's monitors
# add it to what they scrape) and the jobs' series `stream`: panels sum and pick by release, so
# two installs sharing one Prometheus never mix, and name it in their legends. A job's panels
# pick per job across its streams (the slowest, the stalest, the worst outcome; rows summed),
# the alerts name the stream.
PIPELINE = Dashboard(
    uid="tidemark-pipeline",
    title="tidemark / Pipeline health",
    datasource=PROMETHEUS,
    panels=(
        Panel(
            "Produce rate (events/s)",
            "timeseries",
            "sum by (release, stream) (rate(tidemark_producer_events_sent_total[1m]))",
            ("stream",),
            unit="ops",
            legend="{{stream}} {{release}}",
        ),
        Panel(
            "Send latency p95",
            "timeseries",
            "histogram_quantile(0.95, sum by (release, le) (rate(tidemark_producer_send_latency_seconds_bucket[1m])))",
            (),
            unit="s",
            legend="{{release}}",
        ),
        Panel(
            "Ingest lag (records in Kafka not yet ingested)",
            "timeseries",
            "sum by (release, topic) (tidemark_ingest_lag_records)",
            ("release", "topic"),
            legend="{{topic}} {{release}}",
        ),
        Panel(
            "Freshness vs objective",
            "timeseries",
            "tidemark:freshness_seconds",
            ("release", "stream"),
            unit="s",
            legend="{{stream}} {{release}}",
        ),
        Panel(
            "Job duration (slowest stream)",
            "timeseries",
            "max by (release, job) (tidemark_job_duration_seconds)",
            ("release", "job"),
            unit="s",
            legend="{{job}} {{release}}",
        ),
        Panel(
            "Since last success (stalest stream)",
            "stat",
            "time() - min by (release, job) (tidemark_job_last_success_timestamp_seconds)",
            ("release", "job"),
            unit="s",
            legend="{{job}} {{release}}",
        ),
        Panel(
            "Last run succeeded (every stream)",
            "stat",
            "min by (release, job) (tidemark_job_last_run_success)",
            ("release", "job"),
            legend="{{job}} {{release}}",
        ),
        Panel(
            "Rows read per run",
            "timeseries",
            "sum by (release, job) (tidemark_job_rows_read)",
            ("release", "job"),
            legend="{{job}} {{release}}",
        ),
        Panel(
            "Rows written per run",
            "timeseries",
            "sum by (release, job) (tidemark_job_rows_written)",
            ("release", "job"),
            legend="{{job}} {{release}}",
        ),
        Panel(
            "Rejects by reason",
            "timeseries",
            "sum by (release, stream, reason) (tidemark_job_rows_rejected)",
            ("release", "stream", "reason"),
            legend="{{stream}} {{reason}} {{release}}",
        ),
        Panel(
            "Buckets recomputed per run",
            "timeseries",
            "sum by (release, job) (tidemark_job_buckets_recomputed)",
            ("release", "job"),
            legend="{{job}} {{release}}",
        ),
        Panel(
            "Events by kind (last ingest)",
            "barchart",
            "sum by (release, kind) (tidemark_job_events)",
            ("release", "kind"),
            legend="{{kind}} {{release}}",
        ),
    ),
)

DASHBOARDS = (BUSINESS, PIPELINE)


def panel_json(panel: Panel, index: int, grid_pos: dict[str, int], dashboard: Dashboard) -> dict[str, object]:
    datasource = dashboard.datasource
    target: dict[str, object] = {"refId": "A", "datasource": datasource}
    if dashboard.is_sql:
        target |= {
            "rawSql": panel.query,
            "rawQuery": True,
            "editorMode": "code",
            "format": "time_series" if panel.kind == "timeseries" else "table",
        }
    else:
        target |= {
            "expr": panel.query,
            "legendFormat": panel.legend,
            "editorMode": "code",
            "instant": panel.kind in ("stat", "barchart"),
        }
    return {
        "id": index + 1,
        "type": panel.kind,
        "title": panel.title,
        "datasource": datasource,
        "gridPos": grid_pos,
        "targets": [target],
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {},
    }


def dashboard_json(dashboard: Dashboard) -> dict[str, object]:
    panels = []
    x = y = 0
    for i, panel in enumerate(dashboard.panels):
        if x + panel.width > 24:
            x, y = 0, y + 8
        panels.append(panel_json(panel, i, {"x": x, "y": y, "w": panel.width, "h": 8}, dashboard))
        x += panel.width
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "tags": ["tidemark"],
        "timezone": "utc",
        "schemaVersion": 39,
        "editable": False,
        "refresh": "1m",
        "time": {"from": "now-24h" if dashboard.is_sql else "now-1h", "to": "now"},
        "panels": panels,
    }


def rendered(out: Path = OUT) -> dict[Path, str]:
    return {
        out / f"{d.uid.removeprefix('tidemark-')}.json": json.dumps(dashboard_json(d), indent=2) + "\n"
        for d in DASHBOARDS
    }


def stale_files(out: Path = OUT) -> list[Path]:
    """The dashboards in `out` that differ from what their source renders."""
    return [path for path, text in rendered(out).items() if not path.exists() or path.read_text() != text]


def main(argv: list[str]) -> int:
    stale = stale_files()
    if "--check" in argv:
        for path in stale:
            print(f"{path} is stale: run python -m observability.dashboards", file=sys.stderr)
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for path, text in rendered().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
