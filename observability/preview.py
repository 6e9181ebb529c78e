"""PNG previews of the dashboards, from the same panel queries Grafana runs, so a person can
see the result without a cluster. `make demo` ends with them, for its own install.

    python -m observability.preview [--out out/] [--release local/tidemark ...]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib import ticker

from observability.dashboards import DASHBOARDS, NO_DATA, ROW_HEIGHT, Dashboard, Line, Panel, layout
from observability.queries import run_promql, run_sql, wait_for_pushes

Span = tuple[datetime, datetime]
# A line a panel also draws, with the series Prometheus returned for it.
Series = tuple[Line, list[dict[str, Any]]]


@dataclass(frozen=True)
class Preview:
    path: Path
    # What each panel drew, by title: SQL rows or Prometheus series; none is "no data".
    data: dict[str, list[Any]]

    @property
    def empty(self) -> list[str]:
        return [title for title, rows in self.data.items() if not rows]


def _no_data(ax: Any) -> None:
    ax.text(0.5, 0.5, NO_DATA, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def shown(value: Any, panel: Panel, column: str = "") -> str:
    """A value as the dashboard shows it: counts whole, money with two decimals, percentages
    with one, seconds whole, a time to the minute."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, str):
        return value
    if panel.unit == "percentunit":
        return f"{float(value):.1%}"
    text = f"{float(value):,.{panel.decimals(column) or 0}f}"
    return f"{text} s" if panel.unit == "s" else text


def _stat(ax: Any, text: str, size: int = 22) -> None:
    ax.text(0.5, 0.45, text, ha="center", va="center", fontsize=size, transform=ax.transAxes)
    ax.axis("off")


def _time_axis(ax: Any, start: datetime, end: datetime) -> None:
    """The dashboard's time range, as Grafana draws it, whatever the data's own span."""
    ax.set_xlim(start.replace(tzinfo=None), end.replace(tzinfo=None))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
    ax.tick_params(axis="x", labelsize=7)


def _plain_numbers(ax: Any) -> None:
    """Y ticks as the dashboard writes numbers (12,000), never an offset (1e6) above the axis."""
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda y, _: f"{y:,.10g}"))
    ax.tick_params(axis="y", labelsize=8)


def _draw_sql(ax: Any, panel: Panel, columns: list[str], rows: list[tuple[Any, ...]], span: Span) -> None:
    if not rows:
        _no_data(ax)
    elif panel.kind == "stat":
        _stat(ax, shown(rows[0][0], panel, columns[0]))
    elif panel.kind == "timeseries" and len(rows) == 1:
        # One point on a time axis is a dot lost in the range: a stat says it plainly.
        (moment, *values) = rows[0]
        text = "\n".join(f"{name} {shown(v, panel, name)}" for name, v in zip(columns[1:], values, strict=True))
        _stat(ax, f"{text}\nat {moment:%Y-%m-%d %H:%M} UTC", size=14)
    elif panel.kind == "timeseries":
        times = [r[0] for r in rows]
        for i, name in enumerate(columns[1:], start=1):
            ax.plot(times, [float(r[i] or 0) for r in rows], marker=".", label=name)
        ax.legend(fontsize=7)
        _time_axis(ax, *span)
        _plain_numbers(ax)
    elif panel.kind == "barchart":
        ax.bar([str(r[0]) for r in rows], [float(r[1] or 0) for r in rows])
        ax.set_ylabel(columns[1], fontsize=8)
        ax.tick_params(axis="x", labelsize=7, labelrotation=30)
        _plain_numbers(ax)
    else:
        ax.axis("off")
        cells = [[shown(v, panel, name) for name, v in zip(columns, r, strict=True)] for r in rows[:10]]
        table = ax.table(cellText=cells, colLabels=columns, loc="upper center", cellLoc="right")
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        table.auto_set_column_width(list(range(len(columns))))
        table.scale(1, 1.2)
        table.set_in_layout(False)  # sized to its cells, inside the panel: the layout need not fit it


def legend(panel: Panel, metric: dict[str, str], template: str | None = None) -> str:
    """A series' name as Grafana writes it from the panel's legend format (or `template`)."""
    text = panel.legend if template is None else template
    named = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), text).strip()
    return " ".join(named.split()) or ",".join(v for k, v in metric.items() if k in panel.columns) or panel.title


def _draw_prom(ax: Any, panel: Panel, series: list[dict[str, Any]], also: list[Series], span: Span) -> None:
    if not series:
        _no_data(ax)
    elif panel.kind == "timeseries":
        for style, template, lines in (("-", None, series), *(("--", a.legend, found) for a, found in also)):
            for s in lines:
                points = [(datetime.fromtimestamp(t, timezone.utc), float(v)) for t, v in s["values"]]
                # A series that began with the run just pushed has a point or two: a line alone
                # would not show it.
                marker = "o" if len(points) < 3 else None
                name = legend(panel, s["metric"], template)
                ax.plot([p[0] for p in points], [p[1] for p in points], style, marker=marker, label=name)
        ax.legend(fontsize=7)
        _time_axis(ax, *span)
        _plain_numbers(ax)
    elif panel.kind == "barchart":
        ax.bar([legend(panel, s["metric"]) for s in series], [float(s["value"][1]) for s in series])
        ax.tick_params(axis="x", labelsize=7, labelrotation=30)
        _plain_numbers(ax)
    else:
        ax.axis("off")
        text = "\n".join(f"{legend(panel, s['metric'])}: {shown(float(s['value'][1]), panel)}" for s in series[:6])
        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=10, transform=ax.transAxes)


def grid(dashboard: Dashboard) -> tuple[Any, list[Any]]:
    """A figure laid out as the dashboard: each panel as wide as its share of Grafana's 24 columns."""
    places = layout(dashboard)
    rows = max(p.y for p in places) // ROW_HEIGHT + 1
    height = 3.8 * rows
    fig = plt.figure(figsize=(18, height))
    # Margins in inches, whatever the height: room for the title above and tick labels below.
    spec = fig.add_gridspec(
        rows, 24, top=1 - 0.7 / height, bottom=0.9 / height, left=0.04, right=0.99, wspace=1.4, hspace=0.6
    )
    axes = [fig.add_subplot(spec[p.y // ROW_HEIGHT, p.x : p.x + p.w]) for p in places]
    return fig, axes


def render(
    dashboard: Dashboard,
    out: Path,
    conn: Any,
    prometheus: str,
    *,
    start: datetime,
    end: datetime,
    releases: Sequence[str] | None = None,
) -> Preview:
    """The dashboard as of `end`, its variables picking `releases` (every install when None)."""
    fig, axes = grid(dashboard)
    data: dict[str, list[Any]] = {}
    for ax, panel in zip(axes, dashboard.panels, strict=True):
        ax.set_title(panel.title, fontsize=10)
        if dashboard.is_sql:
            columns, result = run_sql(conn, panel, start, end)
            _draw_sql(ax, panel, columns, result, (start, end))
            data[panel.title] = result
        else:
            series = run_promql(prometheus, panel, start, end, releases=releases)
            also = [
                (a, run_promql(prometheus, panel, start, end, releases=releases, query=a.query)) for a in panel.also
            ]
            _draw_prom(ax, panel, series, also, (start, end))
            data[panel.title] = series
    fig.suptitle(
        f"{dashboard.title} — {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC",
        y=1 - 0.2 / fig.get_figheight(),
        verticalalignment="top",
    )
    path = out / f"{dashboard.uid}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return Preview(path, data)


def window(dashboard: Dashboard) -> timedelta:
    """How far back a preview looks: a day of business, a quarter of an hour of pipeline health."""
    return timedelta(hours=24) if dashboard.is_sql else timedelta(minutes=15)


def previews(
    out: Path, conn: Any, prometheus: str, pushgateway: str, releases: Sequence[str] | None = None
) -> list[Preview]:
    """Every dashboard's preview as of now, once Prometheus holds what the jobs last pushed;
    the pipeline's shows the series of the `releases` picked (every install's when None)."""
    behind = wait_for_pushes(prometheus, pushgateway)
    if behind:
        print(f"  warning: {behind}; the pipeline preview may miss the last run", file=sys.stderr)
    end = datetime.now(timezone.utc)
    return [render(d, out, conn, prometheus, start=end - window(d), end=end, releases=releases) for d in DASHBOARDS]


def main(argv: list[str]) -> int:
    from local import stack

    parser = argparse.ArgumentParser(prog="python -m observability.preview", description=__doc__)
    parser.add_argument("--out", type=Path, default=stack.ROOT / "out")
    parser.add_argument("--database", default="analytics")
    parser.add_argument(
        "--release", action="append", help="show this install's pipeline series (repeatable; default: every install's)"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    conn = stack.mariadb_connect(stack.GRAFANA_USER, stack.GRAFANA_PASSWORD, args.database)
    try:
        prometheus = f"http://{stack.HOST}:{stack.PORTS['prometheus']}"
        shown = previews(args.out, conn, prometheus, f"{stack.HOST}:{stack.PORTS['pushgateway']}", args.release)
    finally:
        conn.close()
    for preview in shown:
        print(f"→ preview    {preview.path}")
        if preview.empty:
            print(f"  no data in: {', '.join(preview.empty)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
