"""PNG previews of the dashboards, from the same panel queries Grafana runs, so a person can
see the result without a cluster. `make demo` ends with them, for its own install.

    python -m observability.preview [--out out/] [--release local]
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from observability.dashboards import DASHBOARDS, Dashboard, Panel
from observability.queries import run_promql, run_sql, wait_for_pushes


@dataclass(frozen=True)
class Preview:
    path: Path
    # What each panel drew, by title: SQL rows or Prometheus series; none is "no data".
    data: dict[str, list[Any]]

    @property
    def empty(self) -> list[str]:
        return [title for title, rows in self.data.items() if not rows]


def _no_data(ax: Any) -> None:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def _number(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "percentunit":
        return f"{float(value):.1%}"
    return f"{float(value):,.0f}" if float(value).is_integer() else f"{float(value):,.2f}"


def _draw_sql(ax: Any, panel: Panel, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    elif panel.kind == "stat":
        value = rows[0][0]
        text = (
            "—" if value is None else f"{float(value):.1%}" if panel.unit == "percentunit" else f"{float(value):,.2f}"
        )
        ax.text(0.5, 0.45, text, ha="center", va="center", fontsize=22, transform=ax.transAxes)
        ax.axis("off")
    elif panel.kind == "timeseries":
        times = [r[0] for r in rows]
        for i, name in enumerate(columns[1:], start=1):
            ax.plot(times, [float(r[i] or 0) for r in rows], marker=".", label=name)
        ax.legend(fontsize=7)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    elif panel.kind == "barchart":
        ax.bar([str(r[0]) for r in rows], [float(r[1] or 0) for r in rows])
        ax.set_ylabel(columns[1], fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    else:
        ax.axis("off")
        cells = [[f"{v:,.2f}" if isinstance(v, float) else str(v) for v in r] for r in rows[:10]]
        table = ax.table(cellText=cells, colLabels=columns, loc="center")
        table.auto_set_font_size(False)
        table.set_fontsize(7)


def legend(panel: Panel, metric: dict[str, str]) -> str:
    """A series' name as Grafana writes it from the panel's legend format."""
    named = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), panel.legend).strip()
    return " ".join(named.split()) or ",".join(v for k, v in metric.items() if k in panel.columns) or panel.title


def _draw_prom(ax: Any, panel: Panel, series: list[dict[str, Any]]) -> None:
    def label(s: dict[str, Any]) -> str:
        return legend(panel, s["metric"])

    if not series:
        _no_data(ax)
    elif panel.kind == "timeseries":
        for s in series:
            points = [(datetime.fromtimestamp(t, timezone.utc), float(v)) for t, v in s["values"]]
            # A series that began with the run just pushed has a point or two: a line alone
            # would not show it.
            marker = "o" if len(points) < 3 else None
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=marker, label=label(s))
        ax.legend(fontsize=7)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    elif panel.kind == "barchart":
        ax.bar([label(s) for s in series], [float(s["value"][1]) for s in series])
        ax.tick_params(axis="x", labelsize=7, labelrotation=30)
    else:
        ax.axis("off")
        text = "\n".join(f"{label(s)}: {_number(s['value'][1], panel.unit)}" for s in series[:6])
        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=10, transform=ax.transAxes)


def of_release(series: list[dict[str, Any]], release: str | None) -> list[dict[str, Any]]:
    """The series of one install (all when None), and those scraped without a release label
    (the local stack's producers), which belong to whichever install reads them."""
    return [s for s in series if release is None or s["metric"].get("release", release) == release]


def render(
    dashboard: Dashboard,
    out: Path,
    conn: Any,
    prometheus: str,
    *,
    start: datetime,
    end: datetime,
    release: str | None = None,
) -> Preview:
    cols = 3
    rows = math.ceil(len(dashboard.panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(16, 3.6 * rows))
    data: dict[str, list[Any]] = {}
    for ax, panel in zip(axes.flat, dashboard.panels, strict=False):
        ax.set_title(panel.title, fontsize=10)
        if dashboard.is_sql:
            columns, result = run_sql(conn, panel, start, end)
            _draw_sql(ax, panel, columns, result)
            data[panel.title] = result
        else:
            series = of_release(run_promql(prometheus, panel, start, end), release)
            _draw_prom(ax, panel, series)
            data[panel.title] = series
    for ax in list(axes.flat)[len(dashboard.panels) :]:
        ax.axis("off")
    fig.suptitle(f"{dashboard.title} — {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC")
    fig.tight_layout()
    path = out / f"{dashboard.uid}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return Preview(path, data)


def window(dashboard: Dashboard) -> timedelta:
    """How far back a preview looks: a day of business, a quarter of an hour of pipeline health."""
    return timedelta(hours=24) if dashboard.is_sql else timedelta(minutes=15)


def previews(out: Path, conn: Any, prometheus: str, pushgateway: str, release: str | None = None) -> list[Preview]:
    """Every dashboard's preview as of now, once Prometheus holds what the jobs last pushed;
    the pipeline's shows one install's series when `release` names it."""
    behind = wait_for_pushes(prometheus, pushgateway)
    if behind:
        print(f"  warning: {behind}; the pipeline preview may miss the last run", file=sys.stderr)
    end = datetime.now(timezone.utc)
    return [render(d, out, conn, prometheus, start=end - window(d), end=end, release=release) for d in DASHBOARDS]


def main(argv: list[str]) -> int:
    from local import stack

    parser = argparse.ArgumentParser(prog="python -m observability.preview", description=__doc__)
    parser.add_argument("--out", type=Path, default=stack.ROOT / "out")
    parser.add_argument("--database", default="analytics")
    parser.add_argument("--release", help="show this install's pipeline series only (default: every install's)")
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
