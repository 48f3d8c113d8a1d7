"""The SLO dashboard, built from the SLO model (``slos.yaml``): one row per SLO.

Every query reads the generated recording rules (names from
:mod:`slolab.slo.conventions`) with the SLO's own selector, so the dashboard
shows exactly what the alerts see. Windows are the SLO's scaled alert windows:
a 1-day SLO's "1h" burn rate is its 2m window, and the title says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.models import dashboard as dash

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
from slolab.slo.model import SLO, number

__all__ = ["AT_RISK_BELOW", "slo_dashboard", "time_to_exhaustion"]

# Budget remaining under this share of the period's budget: "at risk".
AT_RISK_BELOW = 0.25
_HOUR = timedelta(hours=1)
_SIX_HOURS = timedelta(hours=6)


def _burn(slo: SLO, window: str) -> str:
    """Burn rate over one recorded window: error ratio / error budget."""
    return f"{slo.recorded(c.error_ratio_rule(window))} / {number(slo.error_budget)}"


def time_to_exhaustion(slo: SLO) -> str:
    """Seconds until the budget is gone at the last (scaled) hour's burn rate.

    remaining share * period / burn rate; 0 once exhausted, capped at one period
    (a burn rate near 0 would otherwise give centuries).
    """
    period = number(slo.period.total_seconds())
    remaining = f"clamp_min({slo.recorded(c.RULE_BUDGET_REMAINING)}, 0)"
    burn = f"clamp_min({_burn(slo, slo.scaled(_HOUR))}, 1e-9)"
    return f"clamp_max({remaining} * {period} / {burn}, {period})"


def _page_factor(slo: SLO) -> float:
    """The lowest burn rate that can page this SLO (red on the burn-rate stats)."""
    factors = [
        cond.factor
        for policy in slo.alert_policies
        if policy.severity == c.SEVERITY_PAGE
        for cond in policy.conditions
    ]
    return min(factors) if factors else 1.0


def _stats(slo: SLO) -> list:
    name, obj = slo.name, slo.objective
    burn_steps = thresholds((None, "green"), (1, "orange"), (_page_factor(slo), "red"))
    budget = slo.recorded(c.RULE_BUDGET_REMAINING)
    h1, h6 = slo.scaled(_HOUR), slo.scaled(_SIX_HOURS)
    return [
        single(
            f"{name}: SLI ({slo.period_str})",
            query(f"1 - {slo.recorded(c.RULE_ERROR_RATIO_PERIOD)}", instant=True),
            unit="percentunit",
            decimals=3,
            width=3,
            steps=thresholds((None, "red"), (obj, "green")),
            description=slo.description,
        ),
        single(
            f"{name}: objective",
            query(slo.recorded(c.RULE_OBJECTIVE), instant=True),
            unit="percentunit",
            decimals=3,
            width=2,
        ),
        single(
            f"{name}: status",
            query(budget, instant=True),
            width=3,
            mappings=status_mappings(AT_RISK_BELOW),
            steps=thresholds((None, "red"), (0, "orange"), (AT_RISK_BELOW, "green")),
            description=f"Budget remaining: below 0 violating, under "
            f"{AT_RISK_BELOW:.0%} at risk, else meeting.",
        ),
        single(
            f"{name}: budget remaining",
            query(budget, instant=True),
            unit="percentunit",
            decimals=1,
            width=3,
            steps=thresholds((None, "red"), (0, "orange"), (AT_RISK_BELOW, "green")),
        ),
        single(
            f"{name}: burn rate now ({slo.short_window})",
            query(slo.recorded(c.RULE_CURRENT_BURN_RATE), instant=True),
            unit="x",
            decimals=2,
            width=3,
            steps=burn_steps,
        ),
        single(
            f"{name}: burn rate {h1}",
            query(_burn(slo, h1), instant=True),
            unit="x",
            decimals=2,
            width=2,
            steps=burn_steps,
        ),
        single(
            f"{name}: burn rate {h6}",
            query(_burn(slo, h6), instant=True),
            unit="x",
            decimals=2,
            width=2,
            steps=burn_steps,
        ),
        single(
            f"{name}: burn rate {slo.period_str}",
            query(slo.recorded(c.RULE_PERIOD_BURN_RATE), instant=True),
            unit="x",
            decimals=2,
            width=2,
            steps=thresholds((None, "green"), (1, "red")),
        ),
        single(
            f"{name}: time to exhaustion",
            query(time_to_exhaustion(slo), instant=True),
            unit="s",
            width=2,
            steps=thresholds((None, "red"), (3600, "orange"), (86400, "green")),
            description=f"At the {h1} burn rate; capped at one period ({slo.period_str}).",
        ),
        single(
            f"{name}: alerts firing",
            query(
                f'count(ALERTS{{alertstate="firing", {c.LABEL_SLO}="{name}"}}) or vector(0)',
                instant=True,
            ),
            width=2,
            steps=thresholds((None, "green"), (1, "red")),
            description=f"{c.ALERT_PAGE} and {c.ALERT_TICKET} firing for this SLO.",
        ),
    ]


def _graphs(slo: SLO) -> list:
    name = slo.name
    h1, h6 = slo.scaled(_HOUR), slo.scaled(_SIX_HOURS)
    return [
        graph(
            f"{name}: SLI over time",
            [
                query(f"1 - {slo.recorded(c.RULE_ERROR_RATIO_PERIOD)}", f"SLI {slo.period_str}"),
                query(f"1 - {slo.recorded(c.error_ratio_rule(h1))}", f"SLI {h1}"),
                query(slo.recorded(c.RULE_OBJECTIVE), "objective"),
            ],
            unit="percentunit",
        ),
        graph(
            f"{name}: error budget remaining",
            [query(slo.recorded(c.RULE_BUDGET_REMAINING), "budget remaining")],
            unit="percentunit",
        ),
        graph(
            f"{name}: burn rates",
            [
                query(slo.recorded(c.RULE_CURRENT_BURN_RATE), slo.short_window),
                query(_burn(slo, h1), h1),
                query(_burn(slo, h6), h6),
                query(slo.recorded(c.RULE_PERIOD_BURN_RATE), slo.period_str),
            ],
            unit="x",
            min_value=0,
        ),
    ]


def slo_dashboard(slos: Sequence[SLO]) -> dash.Dashboard:
    """One row per SLO: numbers first, then SLI, budget and burn rates over time."""
    alerts = (
        dash_b.AnnotationQuery()
        .name("SLO alerts firing")
        .datasource(PROMETHEUS)
        .enable(True)
        .icon_color("orange")
        .expr(f'ALERTS{{alertstate="firing", {c.LABEL_SLO}!=""}}')
    )
    board = (
        dash_b.Dashboard("SLOs")
        .uid("slolab-slos")
        .description(
            "Every SLO of slos.yaml: SLI against its objective, error budget and burn "
            "rates. Generated by slolab.dashboards — do not edit."
        )
        .tags(["slolab", "slo"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .tooltip(dash.DashboardCursorSync.CROSSHAIR)
        .readonly()
        .annotation(faults_annotation('job=~"tasks|predictor"'))
        .annotation(alerts)
    )
    for slo in slos:
        board = board.with_row(dash_b.Row(f"{slo.name} ({slo.service}) — {slo.description}"))
        for panel in (*_stats(slo), *_graphs(slo)):
            board = board.with_panel(panel)
    return number_panels(board.build())
