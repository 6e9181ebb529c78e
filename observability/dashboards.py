"""tidemark's Grafana dashboards as code: the one declaration of their panels, from which
come the JSON under charts/tidemark/files/dashboards/ (observability/grafana.py), the PNG
previews, and the panel queries the integration tests run against the local stack.

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
# The datasources: an install's own MySQL (the business dashboard's `release` variable picks
# it by its uid) and kube-prometheus-stack's Prometheus.
MYSQL = {"type": "mysql", "uid": "${release}"}
PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}

# The hour a row of `events` stands for, as a timestamp Grafana can plot.
HOUR = "TIMESTAMP(dates, MAKETIME(hours, 0, 0))"
IN_RANGE = f"$__timeFilter({HOUR})"


@dataclass(frozen=True)
class Line:
    """A series drawn beside a panel's query: the objective its value is held to."""

    query: str
    legend: str


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
    # The columns that hold money: two decimals. Any other number of a "short" panel is a count.
    money: tuple[str, ...] = ()
    also: tuple[Line, ...] = ()

    @property
    def plain_decimals(self) -> int | None:
        """Decimals of a value that is not money: a count is whole; None leaves it to the unit."""
        return 0 if self.unit == "short" else None

    def decimals(self, column: str) -> int | None:
        return 2 if column in self.money else self.plain_decimals


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    datasource: dict[str, str]
    panels: tuple[Panel, ...]

    @property
    def is_sql(self) -> bool:
        return self.datasource is MYSQL


# What a panel shows before its first data point, as a new install's do until a run pushed.
NO_DATA = "no data yet"
ROW_HEIGHT = 8  # Grafana's grid units


@dataclass(frozen=True)
class Place:
    """Where a panel sits on Grafana's grid of 24 columns."""

    x: int
    y: int
    w: int
    h: int = ROW_HEIGHT


def layout(board: Dashboard) -> list[Place]:
    """Panels left to right, a new row when the next would not fit the 24 columns."""
    places, x, y = [], 0, 0
    for panel in board.panels:
        if x + panel.width > 24:
            x, y = 0, y + ROW_HEIGHT
        places.append(Place(x, y, panel.width))
        x += panel.width
    return places


def hourly(column: str, alias: str) -> str:
    return f"SELECT {HOUR} AS time, SUM({column}) AS {alias} FROM events WHERE {IN_RANGE} GROUP BY 1 ORDER BY 1"


def ranked(title: str, dimension: str, alias: str) -> Panel:
    """The ten values of `dimension` with the most clicks, with their clicks and spend."""
    return Panel(
        title,
        "barchart",
        f"SELECT CAST({dimension} AS CHAR) AS {alias}, SUM(clicks) AS clicks, SUM(spend_hour) AS spend "
        f"FROM events WHERE {IN_RANGE} GROUP BY {dimension} ORDER BY clicks DESC LIMIT 10",
        (alias, "clicks", "spend"),
        width=8,
        money=("spend",),
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
        Panel(
            "Spend",
            "stat",
            f"SELECT SUM(spend_hour) AS spend FROM events WHERE {IN_RANGE}",
            ("spend",),
            width=6,
            money=("spend",),
        ),
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
            money=("spend_per_click",),
        ),
        Panel("Clicks per hour", "timeseries", hourly("clicks", "clicks"), ("time", "clicks")),
        Panel("Spend per hour", "timeseries", hourly("spend_hour", "spend"), ("time", "spend"), money=("spend",)),
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
            money=("spend",),
        ),
        ranked("By publisher", "publisher_id", "publisher"),
        ranked("By campaign", "campaign_id", "campaign"),
        ranked("By company", "company_id", "company"),
        Panel(
            "Top ads in the newest complete window",
            "table",
            "SELECT ad_id, window_start, total_clicks AS clicks, total_views AS views, total_cost AS cost, "
            "avg_cost_per_view AS cost_per_view, event_count AS events FROM ad_window_stats "
            f"WHERE window_start = {NEWEST_COMPLETE_WINDOW} ORDER BY total_clicks DESC LIMIT 10",
            ("ad_id", "window_start", "clicks", "views", "cost", "cost_per_view", "events"),
            width=12,
            money=("cost", "cost_per_view"),
        ),
        Panel(
            "Ad cost per view over time",
            "timeseries",
            "SELECT window_start AS time, SUM(total_cost) / NULLIF(SUM(total_views), 0) AS cost_per_view "
            f"FROM ad_window_stats WHERE {AD_WINDOWS} GROUP BY 1 ORDER BY 1",
            ("time", "cost_per_view"),
            width=12,
            money=("cost_per_view",),
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
            money=("sales",),
        ),
        Panel(
            "Sales by source",
            "barchart",
            "SELECT source, SUM(total_sum_amount) AS sales, SUM(order_count) AS orders "
            "FROM total_sales_by_source_state GROUP BY source ORDER BY sales DESC",
            ("source", "sales", "orders"),
            width=12,
            money=("sales",),
        ),
        Panel(
            "Sales by state",
            "barchart",
            "SELECT state, SUM(total_sum_amount) AS sales, SUM(order_count) AS orders "
            "FROM total_sales_by_source_state GROUP BY state ORDER BY sales DESC LIMIT 15",
            ("state", "sales", "orders"),
            width=12,
            money=("sales",),
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
            money=("sales",),
        ),
    ),
)

# Every tidemark series carries `release` (the install, "<namespace>/<release>": the jobs push
# it, the chart's monitors add it to what they scrape), what the chart scrapes its `namespace`,
# and the jobs' series `stream`. Every query picks the installs the dashboard's `namespace` and
# `release` variables name (all by default), sums and picks by release, so two installs sharing
# one Prometheus never mix, and names it in its legend. A job's panels pick per job across its
# streams (the slowest, the stalest, the worst outcome; rows summed), the alerts name the stream.
PICKED = 'namespace=~"$namespace", release=~"$release"'


def picked(metric: str, *matchers: str) -> str:
    """`metric` of the installs the variables pick, with any other `matchers`."""
    return f"{metric}{{{', '.join((*matchers, PICKED))}}}"


PIPELINE = Dashboard(
    uid="tidemark-pipeline",
    title="tidemark / Pipeline health",
    datasource=PROMETHEUS,
    panels=(
        Panel(
            "Produce rate (events/s)",
            "timeseries",
            f"sum by (release, stream) (rate({picked('tidemark_producer_events_sent_total')}[1m]))",
            ("release", "stream"),
            unit="ops",
            legend="{{stream}} {{release}}",
        ),
        Panel(
            "Send latency p95",
            "timeseries",
            "histogram_quantile(0.95, sum by (release, le) "
            f"(rate({picked('tidemark_producer_send_latency_seconds_bucket')}[1m])))",
            ("release",),
            unit="s",
            legend="{{release}}",
        ),
        Panel(
            "Ingest lag (records in Kafka not yet ingested)",
            "timeseries",
            f"sum by (release, topic) ({picked('tidemark_ingest_lag_records')})",
            ("release", "topic"),
            legend="{{topic}} {{release}}",
        ),
        Panel(
            "Freshness vs objective",
            "timeseries",
            picked("tidemark:freshness_seconds"),
            ("release", "stream"),
            unit="s",
            legend="{{stream}} {{release}}",
            # The objective the freshness alert holds each install to, from the same value.
            also=(Line(picked("tidemark:freshness_slo_seconds"), "objective {{release}}"),),
        ),
        Panel(
            "Job duration (slowest stream)",
            "timeseries",
            f"max by (release, job) ({picked('tidemark_job_duration_seconds')})",
            ("release", "job"),
            unit="s",
            legend="{{job}} {{release}}",
        ),
        Panel(
            "Since last success (stalest stream)",
            "stat",
            f"time() - min by (release, job) ({picked('tidemark_job_last_success_timestamp_seconds')})",
            ("release", "job"),
            unit="s",
            legend="{{job}} {{release}}",
        ),
        Panel(
            "Last run succeeded (every stream)",
            "stat",
            f"min by (release, job) ({picked('tidemark_job_last_run_success')})",
            ("release", "job"),
            legend="{{job}} {{release}}",
        ),
        Panel(
            "Rows read per run",
            "timeseries",
            f"sum by (release, job) ({picked('tidemark_job_rows_read')})",
            ("release", "job"),
            legend="{{job}} {{release}}",
        ),
        Panel(
            "Rows written per run",
            "timeseries",
            f"sum by (release, job) ({picked('tidemark_job_rows_written')})",
            ("release", "job"),
            legend="{{job}} {{release}}",
        ),
        Panel(
            "Rejects by reason",
            "timeseries",
            f"sum by (release, stream, reason) ({picked('tidemark_job_rows_rejected')})",
            ("release", "stream", "reason"),
            legend="{{stream}} {{reason}} {{release}}",
        ),
        Panel(
            "Buckets recomputed per run",
            "timeseries",
            f"sum by (release, job) ({picked('tidemark_job_buckets_recomputed')})",
            ("release", "job"),
            legend="{{job}} {{release}}",
        ),
        Panel(
            "Events by kind (last ingest)",
            "barchart",
            f"sum by (release, kind) ({picked('tidemark_job_events')})",
            ("release", "kind"),
            legend="{{kind}} {{release}}",
        ),
    ),
)

DASHBOARDS = (BUSINESS, PIPELINE)


def rendered(out: Path = OUT) -> dict[Path, str]:
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    from observability import grafana

    return {
        out / f"{d.uid.removeprefix('tidemark-')}.json": json.dumps(grafana.build(d), cls=JSONEncoder, indent=2) + "\n"
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
