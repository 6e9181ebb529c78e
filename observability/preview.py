"""PNG previews of the dashboards, from the same panel queries Grafana runs, so a person can
see the result without a cluster. `make demo` ends with them.

    python -m observability.preview [--out out/]
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mysql.connector

from observability.dashboards import DASHBOARDS, Dashboard, Panel
from observability.queries import run_promql, run_sql


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


def _draw_prom(ax: Any, panel: Panel, series: list[dict[str, Any]]) -> None:
    def label(s: dict[str, Any]) -> str:
        return ",".join(f"{v}" for k, v in s["metric"].items() if k in panel.columns) or panel.title

    if not series:
        _no_data(ax)
    elif panel.kind == "timeseries":
        for s in series:
            points = [(datetime.fromtimestamp(t, timezone.utc), float(v)) for t, v in s["values"]]
            ax.plot([p[0] for p in points], [p[1] for p in points], label=label(s))
        ax.legend(fontsize=7)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    elif panel.kind == "barchart":
        ax.bar([label(s) for s in series], [float(s["value"][1]) for s in series])
        ax.tick_params(axis="x", labelsize=7)
    else:
        ax.axis("off")
        text = "\n".join(f"{label(s)}: {_number(s['value'][1], panel.unit)}" for s in series[:6])
        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=10, transform=ax.transAxes)


def render(dashboard: Dashboard, out: Path, conn: Any, prometheus: str, *, start: datetime, end: datetime) -> Path:
    cols = 3
    rows = math.ceil(len(dashboard.panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(16, 3.6 * rows))
    for ax, panel in zip(axes.flat, dashboard.panels, strict=False):
        ax.set_title(panel.title, fontsize=10)
        if dashboard.is_sql:
            columns, result = run_sql(conn, panel, start, end)
            _draw_sql(ax, panel, columns, result)
        else:
            _draw_prom(ax, panel, run_promql(prometheus, panel, start, end))
    for ax in list(axes.flat)[len(dashboard.panels) :]:
        ax.axis("off")
    fig.suptitle(f"{dashboard.title} — {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC")
    fig.tight_layout()
    path = out / f"{dashboard.uid}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def main(argv: list[str]) -> int:
    from local import stack

    parser = argparse.ArgumentParser(prog="python -m observability.preview", description=__doc__)
    parser.add_argument("--out", type=Path, default=stack.ROOT / "out")
    parser.add_argument("--database", default="analytics")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    end = datetime.now(timezone.utc).replace(tzinfo=None)
    conn = mysql.connector.connect(
        host=stack.HOST,
        port=stack.PORTS["mariadb"],
        user=stack.GRAFANA_USER,
        password=stack.GRAFANA_PASSWORD,
        database=args.database,
    )
    prometheus = f"http://{stack.HOST}:{stack.PORTS['prometheus']}"
    for dashboard in DASHBOARDS:
        window = timedelta(hours=24) if dashboard.is_sql else timedelta(minutes=15)
        print(f"→ preview    {render(dashboard, args.out, conn, prometheus, start=end - window, end=end)}")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
