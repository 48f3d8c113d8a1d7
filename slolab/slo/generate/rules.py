"""Prometheus recording rules (and the alerts) for the SLOs: one file per service.

Per service two groups: ``slo-<service>`` every 30s with the short windows,
the current burn rate and the alerts; ``slo-<service>-period`` every 1m with
the day-long windows and the period (the expensive long ranges).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import groupby
from typing import Any

from slolab.slo import conventions as c
from slolab.slo.generate.alerts import alert_rules, dropped_notes
from slolab.slo.generate.output import GenerateOptions, Output, header, to_yaml
from slolab.slo.model import SLO, SampleSLI, number

__all__ = ["OUTPUT", "RULES_DIR", "render", "rule_groups", "rules_per_slo"]

RULES_DIR = "prometheus/rules"


def _record(name: str, expr: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"record": name, "expr": expr, "labels": dict(labels)}


def _fast_rules(slo: SLO) -> list[dict[str, Any]]:
    rules = []
    if isinstance(slo.sli, SampleSLI) and slo.sli.good_expr is not None:
        rules.append(_record(c.RULE_GOOD_SAMPLE, slo.sli.good_expr, slo.rule_labels))
    for window in slo.windows:
        if not slo.is_slow_window(window):
            expr = slo.sli.error_ratio_query(window)
            rules.append(_record(c.error_ratio_rule(window), expr, slo.rule_labels))
    current = f"{slo.recorded(c.error_ratio_rule(slo.short_window))} / {number(slo.error_budget)}"
    rules.append(_record(c.RULE_CURRENT_BURN_RATE, current, slo.rule_labels))
    rules += alert_rules(slo)
    return rules


def _slow_rules(slo: SLO) -> list[dict[str, Any]]:
    rules = [
        _record(c.error_ratio_rule(w), slo.sli.error_ratio_query(w), slo.rule_labels)
        for w in slo.windows
        if slo.is_slow_window(w)
    ]
    # Traffic-weighted: sum of increases over the whole period, never an
    # average of short-window ratios (one NaN there would poison it for a month).
    period = slo.sli.error_ratio_query(slo.period_str, func="increase")
    rules.append(_record(c.RULE_ERROR_RATIO_PERIOD, period, slo.rule_labels))
    objective = f"vector({number(slo.objective)})"
    rules.append(_record(c.RULE_OBJECTIVE, objective, slo.rule_labels))
    return rules


def _shared_rules(service: str) -> list[dict[str, Any]]:
    # One rule each for all SLOs of the service: same labels on both sides.
    sel = f'{{{c.LABEL_SERVICE}="{service}"}}'
    return [
        {
            "record": c.RULE_PERIOD_BURN_RATE,
            "expr": f"{c.RULE_ERROR_RATIO_PERIOD}{sel} / (1 - {c.RULE_OBJECTIVE}{sel})",
        },
        {"record": c.RULE_BUDGET_REMAINING, "expr": f"1 - {c.RULE_PERIOD_BURN_RATE}{sel}"},
    ]


def rule_groups(service: str, slos: Sequence[SLO]) -> list[dict[str, Any]]:
    """The rule groups of one service."""
    fast = [r for slo in slos for r in _fast_rules(slo)]
    slow = [r for slo in slos for r in _slow_rules(slo)] + _shared_rules(service)
    return [
        {"name": f"slo-{service}", "interval": c.FAST_INTERVAL, "rules": fast},
        {"name": f"slo-{service}-period", "interval": c.SLOW_INTERVAL, "rules": slow},
    ]


def rules_per_slo(slo: SLO) -> int:
    """Rules this SLO adds (the two shared per-service rules not counted)."""
    return len(_fast_rules(slo)) + len(_slow_rules(slo))


def render(slos: Sequence[SLO], options: GenerateOptions) -> dict[str, str]:
    files = {}
    by_service = sorted(slos, key=lambda s: s.service)
    for service, group in groupby(by_service, key=lambda s: s.service):
        members = list(group)
        notes = [note for slo in members for note in dropped_notes(slo)]
        if notes:
            notes.insert(0, "Alert conditions left out because they could never fire:")
        text = to_yaml({"groups": rule_groups(service, members)}, header(options, notes))
        files[f"{RULES_DIR}/slo-{service}.yml"] = text
    return files


OUTPUT = Output(
    name="prometheus-rules",
    render=render,
    owns=(f"{RULES_DIR}/slo-*.yml",),
    description="recording rules and burn-rate alerts, one file per service",
)
