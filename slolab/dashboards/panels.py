"""Small builders shared by every dashboard: datasource, queries, panel kinds.

Everything here wraps grafana-foundation-sdk's typed builders; no dashboard
JSON is written by hand. Datasource uids are fixed and provisioned by
``grafana/provisioning/datasources/datasources.yml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dash

from slolab.contract import FAULT_METRIC

__all__ = [
    "JAEGER_UID",
    "PROMETHEUS",
    "PROMETHEUS_UID",
    "Query",
    "faults_annotation",
    "graph",
    "number_panels",
    "query",
    "single",
    "status_mappings",
    "thresholds",
]

PROMETHEUS_UID = "prometheus"
JAEGER_UID = "jaeger"
PROMETHEUS = dash.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)

Query = prometheus.Dataquery
_REF_IDS = "ABCDEFGHIJ"
_Panel = TypeVar("_Panel", timeseries.Panel, stat.Panel)


def query(expr: str, legend: str = "", *, instant: bool = False, exemplar: bool = False) -> Query:
    """A Prometheus query on the provisioned datasource."""
    q = prometheus.Dataquery().expr(expr).datasource(PROMETHEUS)
    if legend:
        q = q.legend_format(legend)
    q = q.instant() if instant else q.range()
    if exemplar:
        q = q.exemplar(True)
    return q


def _targets(panel: timeseries.Panel | stat.Panel, queries: Sequence[Query]) -> None:
    for ref, q in zip(_REF_IDS, queries, strict=False):
        panel.with_target(q.ref_id(ref))
    if len(queries) > len(_REF_IDS):
        raise ValueError("too many queries for one panel")


def thresholds(*steps: tuple[float | None, str]) -> dash_b.ThresholdsConfig:
    """Absolute thresholds; the first step's value is None (from -infinity)."""
    return (
        dash_b.ThresholdsConfig()
        .mode(dash.ThresholdsMode.ABSOLUTE)
        .steps([dash.Threshold(value=v, color=c) for v, c in steps])
    )


def _framed(
    panel: _Panel, title: str, unit: str, width: int, height: int, description: str
) -> _Panel:
    """What every panel kind has: title, datasource, unit, size and maybe a description."""
    panel = panel.title(title).datasource(PROMETHEUS).unit(unit).span(width).height(height)
    return panel.description(description) if description else panel


def graph(
    title: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    description: str = "",
    width: int = 8,
    height: int = 8,
    min_value: float | None = None,
    max_value: float | None = None,
    no_value: str = "",
) -> timeseries.Panel:
    """A time series panel (``no_value``: the text shown instead of an empty graph)."""
    panel = (
        _framed(timeseries.Panel(), title, unit, width, height, description)
        .line_width(1)
        .fill_opacity(10)
        .legend(
            common_b.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(common_b.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI))
    )
    if min_value is not None:
        panel = panel.min(min_value)
    if max_value is not None:
        panel = panel.max(max_value)
    if no_value:
        panel = panel.no_value(no_value)
    _targets(panel, queries)
    return panel


def single(
    title: str,
    q: Query,
    *,
    unit: str = "short",
    description: str = "",
    width: int = 4,
    height: int = 4,
    steps: dash_b.ThresholdsConfig | None = None,
    mappings: list[dash.ValueMapping] | None = None,
    decimals: int | None = None,
) -> stat.Panel:
    """A stat panel showing the last value of one query."""
    panel = (
        _framed(stat.Panel(), title, unit, width, height, description)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(steps or thresholds((None, "blue")))
    )
    if mappings:
        panel = panel.mappings(mappings)
    if decimals is not None:
        panel = panel.decimals(decimals)
    _targets(panel, [q])
    return panel


def _range(low: float | None, high: float | None, text: str, color: str) -> dash.RangeMap:
    opts = dash_b.DashboardRangeMapOptions()
    if low is not None:
        opts = opts.from_val(low)
    if high is not None:
        opts = opts.to(high)
    result = dash.ValueMappingResult(text=text, color=color)
    return dash.RangeMap(options=opts.result(result).build())


def status_mappings(at_risk_below: float) -> list[dash.ValueMapping]:
    """Budget remaining (a ratio) -> meeting / at risk / violating."""
    return [
        _range(-1e12, 0, "violating", "red"),
        _range(0, at_risk_below, "at risk", "orange"),
        _range(at_risk_below, 1e12, "meeting", "green"),
    ]


def faults_annotation(job_matcher: str) -> dash_b.AnnotationQuery:
    """Mark the time ranges during which an injected fault was on."""
    return (
        dash_b.AnnotationQuery()
        .name("Active faults")
        .datasource(PROMETHEUS)
        .enable(True)
        .icon_color("red")
        .expr(f"max by (job, fault) ({FAULT_METRIC}{{{job_matcher}}}) > 0")
    )


def number_panels(board: dash.Dashboard) -> dash.Dashboard:
    """Give every panel (rows and panels in rows too) a stable, unique id."""
    next_id = 1
    for panel in board.panels or []:
        panel.id_val = next_id
        next_id += 1
        for inner in getattr(panel, "panels", None) or []:
            inner.id_val = next_id
            next_id += 1
    return board
