"""The SLO dashboard, built from the SLO model (``slos.yaml``): Sloth's and Pyrra's shape.

On top, one overview table of every SLO (objective, SLI, budget left, burn
rates, alerts, history covered); below, one row per SLO repeated over the
``slo`` template variable (filtered by ``service``), so the panel count does
not grow with the SLO file and any user's SLOs appear without regenerating.

Every query reads the generated recording rules (names from
:mod:`slolab.slo.conventions`), never raw series: the dashboard shows what the
alerts see. Windows differ per SLO (a 1-day SLO's "1h" is its 2m window), so
the per-window burn-rate graph lists whatever windows the SLO records.
``OVERVIEW_QUERIES`` are the table's queries: the browser dashboard's test
compares their results with its own numbers.

When some SLO has several periods (``periods: [30d, 7d]``) the period figures
are told apart by ``slo_window``: the table then has a row per period (window
empty for the first, the one the burn-rate alerts follow), the stats show the
first period and the graphs a line per period. Without such an SLO the board is
the one above, query for query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import dashboard as dash
from grafana_foundation_sdk.models import prometheus as prom_models

from slolab.dashboards.panels import (
    PROMETHEUS,
    faults_annotation,
    graph,
    number_panels,
    query,
    single,
    status_mappings,
    thresholds,
)
from slolab.slo import conventions as c
from slolab.slo import promql
from slolab.slo.model import SLO

__all__ = ["AT_RISK_BELOW", "OVERVIEW_QUERIES", "slo_dashboard"]

# Budget remaining under this share of the period's budget: "at risk".
AT_RISK_BELOW = 0.25
VAR_SERVICE, VAR_SLO = c.LABEL_SERVICE, c.LABEL_SLO
_ALL = f'{c.LABEL_SERVICE}=~"${VAR_SERVICE}", {c.LABEL_SLO}=~"${VAR_SLO}"'
_ONE = f'{c.LABEL_SLO}="${VAR_SLO}"'
_BY = f"by ({c.LABEL_SERVICE}, {c.LABEL_SLO})"

# column -> instant query over every selected SLO, one row per (service, slo).
OVERVIEW_QUERIES: dict[str, str] = {
    "objective": f"max {_BY} ({c.RULE_OBJECTIVE}{{{_ALL}}})",
    "SLI (period)": f"1 - max {_BY} ({c.RULE_ERROR_RATIO_PERIOD}{{{_ALL}}})",
    "budget left": f"max {_BY} ({c.RULE_BUDGET_REMAINING}{{{_ALL}}})",
    "burn now": f"max {_BY} ({c.RULE_CURRENT_BURN_RATE}{{{_ALL}}})",
    "burn period": f"max {_BY} ({c.RULE_PERIOD_BURN_RATE}{{{_ALL}}})",
    "alerts firing": f"count {_BY} ({promql.firing_alerts(_ALL)})",
    "history covered": f"max {_BY} ({c.RULE_PERIOD_COVERAGE}{{{_ALL}}})",
}
# With several periods: the first period's figures (no slo_window label: ""), a row
# per (service, slo, period) in the table.
_FIRST = f'{c.LABEL_WINDOW}=""'
_BY_WINDOW = f"by ({c.LABEL_SERVICE}, {c.LABEL_SLO}, {c.LABEL_WINDOW})"
_UNITS = {"objective": "percentunit", "SLI (period)": "percentunit",
          "budget left": "percentunit", "burn now": "x", "burn period": "x",
          "alerts firing": "short", "history covered": "s"}  # fmt: skip


def _variables() -> list:
    def var(name: str, expr: str, label: str) -> dash_b.QueryVariable:
        return (
            dash_b.QueryVariable(name)
            .label(label)
            .datasource(PROMETHEUS)
            .query(expr)
            .refresh(dash.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dash.VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .current(dash.VariableOption(selected=True, text="All", value="$__all"))
        )

    return [
        var(VAR_SERVICE, f"label_values({c.RULE_OBJECTIVE}, {c.LABEL_SERVICE})", "service"),
        var(VAR_SLO, f'label_values({c.RULE_OBJECTIVE}{{{c.LABEL_SERVICE}=~"${VAR_SERVICE}"}}, '
            f"{c.LABEL_SLO})", "SLO"),
    ]  # fmt: skip


def _overview_queries(windowed: bool) -> dict[str, str]:
    if not windowed:
        return OVERVIEW_QUERIES
    return {column: expr.replace(_BY, _BY_WINDOW) for column, expr in OVERVIEW_QUERIES.items()}


def _overview(windowed: bool) -> table.Panel:
    queries = _overview_queries(windowed)
    panel = (
        table.Panel()
        .title("Every SLO")
        .description(
            "One row per SLO: objective, SLI over its period, error budget left, "
            "burn rates (1x spends the budget exactly over the period), alerts "
            "firing, and how much history the period figures cover."
        )
        .datasource(PROMETHEUS)
        .span(24)
        .height(9)
    )
    for ref, (column, expr) in zip("ABCDEFGHIJ", queries.items(), strict=False):
        panel = panel.with_target(
            query(expr, instant=True).format(prom_models.PromQueryFormat.TABLE).ref_id(ref)
        )
        panel = panel.override_by_name(
            column, [dash.DynamicConfigValue(id_val="unit", value=_UNITS[column])]
        )
    refs = zip("ABCDEFGHIJ", queries, strict=False)
    renames = {f"Value #{ref}": col for ref, col in refs}
    index = {c.LABEL_SLO: 0, c.LABEL_SERVICE: 1}
    if windowed:
        renames[c.LABEL_WINDOW] = "period"
        index = {c.LABEL_SLO: 0, c.LABEL_WINDOW: 1, c.LABEL_SERVICE: 2}
        panel = panel.description(
            "One row per SLO and period: objective, SLI over the period, error budget "
            "left, burn rates (1x spends the budget exactly over the period), alerts "
            "firing, and how much history the period figures cover. The period is empty "
            "on the row of an SLO's first period, the one its burn-rate alerts follow."
        )
    panel = panel.with_transformation(dash.DataTransformerConfig(id_val="merge", options={}))
    return panel.with_transformation(
        dash.DataTransformerConfig(
            id_val="organize",
            options={
                "excludeByName": {"Time": True},
                "renameByName": renames,
                "indexByName": index,
            },
        )
    )


def _recorded(rule: str) -> str:
    return f"{rule}{{{_ONE}}}"


def _first(rule: str, windowed: bool) -> str:
    """A period figure of the SLO's first period (the only one without several)."""
    return f"{rule}{{{_ONE}, {_FIRST}}}" if windowed else _recorded(rule)


def _stat(title: str, expr: str, **options: Any):  # type: ignore[no-untyped-def]
    """One stat panel of the SLO's row: an instant query of this SLO's series."""
    return single(title, query(expr, instant=True), **options)


def _stats(windowed: bool) -> list:
    budget = _first(c.RULE_BUDGET_REMAINING, windowed)
    burn_steps = thresholds((None, "green"), (1, "orange"), (14.4, "red"))
    budget_steps = thresholds((None, "red"), (0, "orange"), (AT_RISK_BELOW, "green"))
    percent = {"unit": "percentunit", "decimals": 3}
    burn = {"unit": "x", "decimals": 2, "width": 3}
    firing = f"count({promql.firing_alerts(_ONE)}) or vector(0)"
    return [
        _stat("SLI over the period", f"1 - {_first(c.RULE_ERROR_RATIO_PERIOD, windowed)}",
              **percent,
              width=3),
        _stat("objective", _recorded(c.RULE_OBJECTIVE), **percent, width=2),
        _stat("status", budget, width=3, mappings=status_mappings(AT_RISK_BELOW),
              steps=budget_steps,
              description=f"Budget remaining: below 0 violating, under {AT_RISK_BELOW:.0%} "
              "at risk, else meeting."),
        _stat("budget remaining", budget, unit="percentunit", decimals=1, width=3,
              steps=budget_steps),
        _stat("burn rate now", _recorded(c.RULE_CURRENT_BURN_RATE), **burn, steps=burn_steps,
              description="Over the SLO's shortest alert window (5m for 30 days)."),
        _stat("burn rate over the period", _first(c.RULE_PERIOD_BURN_RATE, windowed), **burn,
              steps=thresholds((None, "green"), (1, "red"))),
        _stat("history covered", _first(c.RULE_PERIOD_COVERAGE, windowed), unit="s", width=4,
              description="How much history the period figures are computed over "
              "(less than the period on a young Prometheus)."),
        _stat("alerts firing", firing, width=3, steps=thresholds((None, "green"), (1, "red")),
              description=f"{c.ALERT_PAGE} and {c.ALERT_TICKET} firing for this SLO."),
    ]  # fmt: skip


def _per_period(rule: str, legend: str, windowed: bool, expr: str = "{}") -> list:
    """Queries of a period figure: the first period's, then (several) one line per period."""
    if not windowed:
        return [query(expr.format(_recorded(rule)), legend)]
    further = f'{rule}{{{_ONE}, {c.LABEL_WINDOW}!=""}}'
    return [
        query(expr.format(_first(rule, windowed)), legend),
        query(expr.format(further), f"{legend} {{{{{c.LABEL_WINDOW}}}}}"),
    ]


def _graphs(windowed: bool) -> list:
    short_sli = f"1 - {_recorded(c.RULE_CURRENT_BURN_RATE)} * (1 - {_recorded(c.RULE_OBJECTIVE)})"
    windows = (
        f'label_replace({{__name__=~"{c.error_ratio_rule("")}.+", {_ONE}}}, "window", "$1", '
        f'"__name__", "{c.error_ratio_rule("")}(.+)") / on ({c.LABEL_SLO}) group_left () '
        f"(1 - {_recorded(c.RULE_OBJECTIVE)})"
    )
    return [
        graph(
            "SLI over time",
            [
                *_per_period(c.RULE_ERROR_RATIO_PERIOD, "SLI over the period", windowed, "1 - {}"),
                query(short_sli, "SLI now (shortest window)"),
                query(_recorded(c.RULE_OBJECTIVE), "objective"),
            ],
            unit="percentunit",
        ),
        graph(
            "error budget remaining",
            _per_period(c.RULE_BUDGET_REMAINING, "budget", windowed),
            unit="percentunit",
        ),
        graph(
            "burn rate per alert window",
            [
                query(windows, "{{window}}"),
                *_per_period(c.RULE_PERIOD_BURN_RATE, "period", windowed),
            ],
            unit="x",
            min_value=0,
        ),
    ]


def slo_dashboard(slos: Sequence[SLO]) -> dash.Dashboard:
    """The overview table, then one row per selected SLO (repeated over ``$slo``)."""
    # The variables list the SLOs Prometheus has: any slos.yaml, no regeneration;
    # only an SLO with several periods changes the queries (slo_window).
    windowed = any(s.extra_periods for s in slos)
    alerts = (
        dash_b.AnnotationQuery()
        .name("SLO alerts firing")
        .datasource(PROMETHEUS)
        .enable(True)
        .icon_color("orange")
        .expr(promql.firing_alerts(f'{c.LABEL_SLO}=~"${VAR_SLO}"'))
    )
    # Budget adjustments (planned work) shaded: their events are not in the budget.
    adjustments = (
        dash_b.AnnotationQuery()
        .name("Budget adjustments")
        .datasource(PROMETHEUS)
        .enable(True)
        .icon_color("blue")
        .expr(
            f'max by ({c.LABEL_SLO}) ({c.RULE_ADJUSTMENT_ACTIVE}{{{c.LABEL_SLO}=~"${VAR_SLO}"}})'
            " > 0"
        )
    )
    board = (
        dash_b.Dashboard("SLOs")
        .uid("slolab-slos")
        .description(
            "Every SLO: an overview table, then one row per SLO (template variables "
            "service and slo). Generated by slolab.dashboards — do not edit."
        )
        .tags(["slolab", "slo"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .tooltip(dash.DashboardCursorSync.CROSSHAIR)
        .readonly()
        .annotation(faults_annotation('job=~"tasks|predictor"'))
        .annotation(alerts)
        .annotation(adjustments)
    )
    for variable in _variables():
        board = board.with_variable(variable)
    board = board.with_panel(_overview(windowed))
    board = board.with_row(dash_b.Row(f"${VAR_SLO}").repeat(VAR_SLO))
    for panel in (*_stats(windowed), *_graphs(windowed)):
        board = board.with_panel(panel)
    return number_panels(board.build())
