"""Prometheus recording rules (and the alerts) for the SLOs: one file per service.

Per service three groups, each alert after every series it reads:

- ``slo-<service>`` every 30s: the short windows from raw series, the burn-rate
  alerts (their long ticket windows computed from the aggregates), the current
  burn rate and the no-data alert;
- ``slo-<service>-aggregates`` every 5m: per SLO the rate of all and of bad
  events over those 5 minutes (``slo:sli_events:rate5m``) and when they were
  recorded (``slo:sli_aggregated_at:timestamp``);
- ``slo-<service>-period`` every 1m: the objective, the period error ratio as a
  ratio of summed aggregates (2 x 8,640 samples per SLO for 30 days, whatever
  the scrape rate: never ``increase(...[30d])`` over raw samples) plus the raw
  events since the last aggregate (at most 5 minutes of raw samples), so it moves
  at every evaluation; the span it covers (``slo:period_coverage:seconds``),
  burn rate, budget left and the budget alerts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from itertools import groupby
from typing import Any

from slolab.slo import conventions as c
from slolab.slo import promql
from slolab.slo.durations import format_duration, parse_duration
from slolab.slo.generate.alerts import alert_rules, budget_alert_rules, dropped_notes, no_data_rule
from slolab.slo.generate.output import GenerateOptions, Output, header, to_yaml
from slolab.slo.model import SLO, SampleSLI, number

__all__ = ["OUTPUT", "RULES_DIR", "render", "rule_groups", "rules_per_slo"]

RULES_DIR = "prometheus/rules"


def _record(name: str, expr: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"record": name, "expr": expr}
    if labels is not None:
        rule["labels"] = dict(labels)
    return rule


def _in(service: str, slos: Sequence[SLO]) -> str:
    """Matchers for the series of ``slos`` (all of one service)."""
    names = "|".join(s.name for s in slos)
    return f'{{{c.LABEL_SERVICE}="{service}",{c.LABEL_SLO}=~"{names}"}}'


def _fast_rules(slo: SLO) -> list[dict[str, Any]]:
    rules = []
    if slo.adjustments:
        rules.append(
            _record(c.RULE_ADJUSTMENT_ACTIVE, promql.adjusted(slo.adjustments), slo.rule_labels)
        )
    good = promql.good_sample(slo.sli) if isinstance(slo.sli, SampleSLI) else None
    if good is not None:
        rules.append(_record(c.RULE_GOOD_SAMPLE, good, slo.rule_labels))
    for window in slo.recorded_windows:
        expr = promql.error_ratio(slo, window)
        rules.append(_record(c.error_ratio_rule(window), expr, slo.rule_labels))
    return rules + alert_rules(slo)


def _events_rule(slo: SLO) -> dict[str, Any]:
    return _record(c.RULE_EVENTS_AGGREGATE, promql.events_aggregate(slo), slo.rule_labels)


def _shared_since_aggregate(service: str, slos: Sequence[SLO]) -> dict[str, Any]:
    # Its own query: in the ratio's, these raw selectors would be looked up in
    # every block of the month the aggregates are read from.
    parts = []
    for slo in slos:
        for kind, expr in zip((c.EVENTS_ERRORS, c.EVENTS_TOTAL), promql.since_last_aggregate(slo),
                              strict=True):  # fmt: skip
            labelled = f"({expr})"
            for label, value in ((c.LABEL_EVENTS, kind), (c.LABEL_SLO, slo.name),
                                 (c.LABEL_SERVICE, service)):  # fmt: skip
                labelled = f'label_replace({labelled}, "{label}", "{value}", "", "")'
            parts.append(labelled)
    return _record(c.RULE_EVENTS_SINCE_AGGREGATE, "\nor\n".join(parts) + "\n")


def _extra_period_rules(slo: SLO, period: timedelta) -> list[dict[str, Any]]:
    """A further period's figures (``periods: [30d, 7d]``), labelled ``slo_window``.

    The same aggregates and events since the last one as the first period's, over
    another range: no raw series read. Its budget left comes from the service's
    shared rule (``1 - burn rate`` keeps every label), its budget alerts too.
    """
    labels = {**slo.rule_labels, c.LABEL_WINDOW: format_duration(period)}
    return [
        _record(c.RULE_ERROR_RATIO_PERIOD, promql.period_ratio(slo, period), labels),
        _record(c.RULE_PERIOD_COVERAGE, promql.period_coverage(slo, period), labels),
        _record(c.RULE_PERIOD_BURN_RATE, promql.period_burn(slo, period), labels),
    ]


def _period_rules(slo: SLO) -> list[dict[str, Any]]:
    rules = [
        _record(c.RULE_OBJECTIVE, f"vector({number(slo.objective)})", slo.rule_labels),
        _record(c.RULE_ERROR_RATIO_PERIOD, promql.period_ratio(slo), slo.rule_labels),
    ]
    return rules + [r for p in slo.extra_periods for r in _extra_period_rules(slo, p)]


def _by(slos: Sequence[SLO], key: Any) -> list[tuple[Any, list[SLO]]]:
    ordered = sorted(slos, key=key)
    return [(k, list(g)) for k, g in groupby(ordered, key=key)]


def _shared_fast(service: str, slos: Sequence[SLO]) -> list[dict[str, Any]]:
    # One rule (promtool flags two with one name): each SLO's own short window.
    ratios = " or ".join(
        f"{c.error_ratio_rule(window)}{_in(service, members)}"
        for window, members in _by(slos, lambda s: s.short_window)
    )
    objective = f'{c.RULE_OBJECTIVE}{{{c.LABEL_SERVICE}="{service}"}}'
    expr = f"({ratios}) / on({c.LABEL_SLO}, {c.LABEL_SERVICE}) group_left() (1 - {objective})"
    return [_record(c.RULE_CURRENT_BURN_RATE, expr), no_data_rule(service, slos)]


def _shared_aggregates(service: str) -> list[dict[str, Any]]:
    total = (
        f'{c.RULE_EVENTS_AGGREGATE}{{{c.LABEL_SERVICE}="{service}",'
        f'{c.LABEL_EVENTS}="{c.EVENTS_TOTAL}"}}'
    )
    # Evaluated right after the aggregates in this group: the time they were recorded.
    return [_record(c.RULE_AGGREGATED_AT, f"max without({c.LABEL_EVENTS}) (timestamp({total}))")]


def _coverage(service: str, slos: Sequence[SLO]) -> dict[str, Any]:
    # From the oldest aggregate in the period (each covers the window before it):
    # the whole period once the aggregates are that old, less until then.
    window = number(parse_duration(c.AGGREGATE_WINDOW).total_seconds())
    parts = []
    # Ordered by the period as written (the order the generated files always had).
    for period, members in _by(slos, lambda s: promql.duration(s.period)):
        seconds = number(parse_duration(period).total_seconds())
        oldest = f"min_over_time({c.RULE_AGGREGATED_AT}{_in(service, members)}[{period}])"
        parts.append(f"clamp_max(time() - {oldest} + {window}, {seconds})")
    return _record(c.RULE_PERIOD_COVERAGE, "\nor\n".join(parts) + "\n")


def _shared_period(service: str, slos: Sequence[SLO]) -> list[dict[str, Any]]:
    # One rule each for all SLOs of the service: same labels on both sides.
    sel = f'{{{c.LABEL_SERVICE}="{service}"}}'
    rules = [
        _coverage(service, slos),
        _record(
            c.RULE_PERIOD_BURN_RATE,
            f"{c.RULE_ERROR_RATIO_PERIOD}{sel} / (1 - {c.RULE_OBJECTIVE}{sel})",
        ),
        _record(c.RULE_BUDGET_REMAINING, f"1 - {c.RULE_PERIOD_BURN_RATE}{sel}"),
    ]
    return rules + budget_alert_rules(service, slos)


def rule_groups(service: str, slos: Sequence[SLO]) -> list[dict[str, Any]]:
    """The rule groups of one service."""
    fast = [r for slo in slos for r in _fast_rules(slo)] + _shared_fast(service, slos)
    aggregates = [_events_rule(slo) for slo in slos] + _shared_aggregates(service)
    period = [_shared_since_aggregate(service, slos)]
    period += [r for slo in slos for r in _period_rules(slo)] + _shared_period(service, slos)
    return [
        {"name": f"slo-{service}", "interval": c.FAST_INTERVAL, "rules": fast},
        {"name": f"slo-{service}-aggregates", "interval": c.AGGREGATE_INTERVAL,
         "rules": aggregates},
        {"name": f"slo-{service}-period", "interval": c.SLOW_INTERVAL, "rules": period},
    ]  # fmt: skip


def rules_per_slo(slo: SLO) -> int:
    """Rules this SLO adds (the per-service rules shared by all its SLOs not counted)."""
    return len(_fast_rules(slo)) + 1 + len(_period_rules(slo))


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
