"""Multi-window, multi-burn-rate alerts (Google SRE Workbook, ch. 5) for one SLO.

Each condition compares the burn rate (error ratio / budget) of a long and a
short window with the same factor; the short window lets the alert resolve
soon after the burn stops, which is why there is no ``for:``.
"""

from __future__ import annotations

from typing import Any

from slolab.slo import conventions as c
from slolab.slo.model import SLO, AlertPolicy, BurnCondition, number

__all__ = ["alert_expr", "alert_rules", "dropped_notes"]

_SUMMARY = {
    c.SEVERITY_PAGE: "{name}: error budget burning fast, page",
    c.SEVERITY_TICKET: "{name}: error budget burning steadily, ticket",
}


def _burn(slo: SLO, window: str) -> str:
    return f"{slo.recorded(c.error_ratio_rule(window))} / {number(slo.error_budget)}"


def _condition(slo: SLO, cond: BurnCondition) -> str:
    # Short window first: the alert's value is then the recent burn rate.
    factor = number(cond.factor)
    return (
        f"(\n  {_burn(slo, cond.short)} > {factor}\n  and\n  {_burn(slo, cond.long)} > {factor}\n)"
    )


def alert_expr(slo: SLO, policy: AlertPolicy) -> str:
    """The alert's PromQL: any condition of the policy (an OR of window pairs)."""
    return "\nor\n".join(_condition(slo, cond) for cond in policy.conditions) + "\n"


def alert_rules(slo: SLO) -> list[dict[str, Any]]:
    rules = []
    for policy in slo.alert_policies:
        pairs = ", ".join(
            f"{number(cond.factor)}x over {cond.long} and {cond.short}"
            for cond in policy.conditions
        )
        rules.append(
            {
                "alert": policy.alert,
                "expr": alert_expr(slo, policy),
                # slo/service also come from the series; stating them keeps each
                # rule distinct (promtool lint flags same-name, same-label rules).
                "labels": {c.LABEL_SEVERITY: policy.severity, **slo.rule_labels},
                "annotations": {
                    "summary": _SUMMARY[policy.severity].format(name=slo.name),
                    "description": (
                        "Burning the error budget at {{ $value | humanize }}x the rate that "
                        f"would use it up in exactly {slo.period_str} (fires on {pairs}). "
                        f"Objective {number(slo.objective_percent)}%: {slo.description}"
                    ),
                    "runbook_url": slo.runbook_url,
                },
            }
        )
    return rules


def dropped_notes(slo: SLO) -> list[str]:
    """Conditions left out because they could never fire, for the file header."""
    return [
        f"{slo.name}: {policy.alert} without {number(d.factor)}x over {d.long}/{d.short}: "
        f"{d.reason}"
        for policy in slo.alert_policies
        for d in policy.dropped
    ]
