"""The dashboards as Grafana reads them, built with Grafana's own typed builders
(grafana-foundation-sdk) from the panels `observability.dashboards` declares.

Each dashboard picks the installs it shows with variables: the pipeline's `namespace` and
`release` (Prometheus labels, every install by default), the business one's `release` (the
install's MySQL datasource: its numbers live in that install's database only). The chart gives
each install's copy a uid, a title and default picks of its own (templates/monitoring/dashboards.yaml).
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import barchart, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DynamicConfigValue,
    GridPos,
    VariableOption,
    VariableRefresh,
)

from observability.dashboards import MYSQL, NO_DATA, PROMETHEUS, Dashboard, Panel, Place, layout

# Every install's MySQL datasource is named so (charts/tidemark/templates/_helpers.tpl).
DATASOURCE_PREFIX = "tidemark "
ALL = VariableOption(text="All", value="$__all")
BUILDERS: dict[str, Any] = {
    "timeseries": timeseries.Panel,
    "barchart": barchart.Panel,
    "table": table.Panel,
    "stat": stat.Panel,
}


class Sql(cogvariants.Dataquery, cogbuilder.Builder["Sql"]):
    """A MySQL datasource's query in code mode, its own builder: the SDK has none for SQL."""

    def __init__(self, sql: str, table_format: bool) -> None:
        self.sql = sql
        self.table_format = table_format

    def build(self) -> Sql:
        return self

    def to_json(self) -> dict[str, object]:
        return {
            "refId": "A",
            "rawSql": self.sql,
            "rawQuery": True,
            "editorMode": "code",
            "format": "table" if self.table_format else "time_series",
        }


PROMETHEUS_SOURCE = DataSourceRef(type_val=PROMETHEUS["type"], uid=PROMETHEUS["uid"])
MYSQL_PICKED = DataSourceRef(type_val=MYSQL["type"], uid=MYSQL["uid"])


def targets(board: Dashboard, panel: Panel) -> list[cogbuilder.Builder[Any]]:
    if board.is_sql:
        return [Sql(panel.query, table_format=panel.kind != "timeseries")]
    lines = [(panel.query, panel.legend), *((line.query, line.legend) for line in panel.also)]
    built = []
    for i, (query, legend) in enumerate(lines):
        target = prometheus.Dataquery().expr(query).legend_format(legend).ref_id(chr(ord("A") + i))
        built.append(target.instant() if panel.kind in ("stat", "barchart") else target.range())
    return built


def panel_builder(board: Dashboard, panel: Panel, index: int, place: Place) -> Any:
    built = (
        BUILDERS[panel.kind]()
        .id(index + 1)
        .title(panel.title)
        .datasource(MYSQL_PICKED if board.is_sql else PROMETHEUS_SOURCE)
        .grid_pos(GridPos(h=place.h, w=place.w, x=place.x, y=place.y))
        .unit(panel.unit)
        .no_value(NO_DATA)
        .targets(targets(board, panel))
    )
    if panel.plain_decimals is not None:
        built = built.decimals(panel.plain_decimals)
    for column in panel.money:
        built = built.override_by_name(column, [DynamicConfigValue(id_val="decimals", value=panel.decimals(column))])
    if panel.kind == "timeseries":
        # A series of one point (an hour's first run) is a dot, not nothing.
        built = built.show_points(common.VisibilityMode.ALWAYS if board.is_sql else common.VisibilityMode.AUTO)
    return built


def variables(board: Dashboard) -> list[cogbuilder.Builder[Any]]:
    if board.is_sql:
        return [
            dashboard.DatasourceVariable("release")
            .label("release")
            .type("mysql")
            .regex(f"/^{DATASOURCE_PREFIX}/")
            .description("The install whose numbers are shown: its MySQL datasource")
        ]
    installs = '{__name__=~"tidemark_.+"}'
    installs_picked = '{__name__=~"tidemark_.+", namespace=~"$namespace"}'

    def pick(name: str, query: str) -> Any:
        return (
            dashboard.QueryVariable(name)
            .label(name)
            .datasource(PROMETHEUS_SOURCE)
            .query(query)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .multi(True)
            .include_all(True)
            # "All" also matches series without the label (a local stack's have no namespace).
            .all_value(".*")
            .current(ALL)
        )

    return [
        pick("namespace", f"label_values({installs}, namespace)"),
        pick("release", f"label_values({installs_picked}, release)"),
    ]


def build(board: Dashboard) -> Any:
    built = (
        dashboard.Dashboard(board.title)
        .uid(board.uid)
        .tags(["tidemark"])
        .timezone("utc")
        .readonly()
        .refresh("1m")
        .time("now-24h" if board.is_sql else "now-1h", "now")
        .variables(variables(board))
    )
    for i, (panel, place) in enumerate(zip(board.panels, layout(board), strict=True)):
        built = built.with_panel(panel_builder(board, panel, i, place))
    return built.build()
