"""The alerts of the SLOs: burn rates (Google SRE Workbook, ch. 5), budget, no data.

Burn-rate alerts, one pair of rules per SLO: each condition compares the burn
rate (error ratio / budget) of a long and a short window with the same factor;
the short window lets the alert resolve soon after the burn stops, which is why
there is no ``for:``. Every window an alert reads is evaluated earlier in the
alert's own group (or computed in its expression), so group order and intervals
never decide what it sees. The description quotes the burn rates of the window
pair(s) that fired, read when the alert is evaluated.

Budget and no-data alerts are shared by all SLOs of a service (one rule per
threshold): the series they read carry each SLO's labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slolab.slo import conventions as c
from slolab.slo import promql
from slolab.slo.durations import format_duration
from slolab.slo.model import SLO, BurnCondition, number
from slolab.slo.policy import Action

__all__ = [
    "alert_rules",
    "budget_alert_rules",
    "budget_thresholds",
    "dropped_notes",
    "no_data_rule",
]

_SUMMARY = {
    c.SEVERITY_PAGE: "{name}: error budget burning fast, page",
    c.SEVERITY_TICKET: "{name}: error budget burning steadily, ticket",
}
_VALUE = "{{ . | first | value | humanize }}"
_AND = promql.AND_SAME_SLO


def _fired(slo: SLO, cond: BurnCondition) -> str:
    """Template text quoting both burn rates of one pair, printed only while it holds."""
    short, long = promql.burn_pair(slo, cond)
    # `A and B` keeps A's value: the same condition queried both ways gives both rates.
    return (
        f"{{{{ with query `{short} {_AND} {long}` }}}}{format_duration(cond.short)}: {_VALUE}x, "
        f"{{{{ end }}}}{{{{ with query `{long} {_AND} {short}` }}}}"
        f"{format_duration(cond.long)}: {_VALUE}x "
        f"(fires above {number(cond.factor)}x on both); {{{{ end }}}}"
    )


def alert_rules(slo: SLO) -> list[dict[str, Any]]:
    """The SLO's burn-rate alerts (page and ticket)."""
    rules = []
    for policy in slo.alert_policies:
        rules.append(
            {
                "alert": policy.alert,
                "expr": promql.alert_expr(slo, policy),
                # slo/service also come from the series; stating them keeps each
                # rule distinct (promtool lint flags same-name, same-label rules).
                "labels": {c.LABEL_SEVERITY: str(policy.severity), **slo.rule_labels},
                "annotations": {
                    "summary": _SUMMARY[policy.severity].format(name=slo.name),
                    "description": (
                        "Error budget burn rate "
                        + "".join(_fired(slo, cond) for cond in policy.conditions)
                        + "1x would use the whole budget in exactly "
                        + f"{format_duration(slo.period)}. "
                        + (
                            f"Needs {slo.min_events} events in the long window (low traffic). "
                            if slo.min_events is not None
                            else ""
                        )
                        + (
                            "Paused during budget adjustments: "
                            + ", ".join(a.name for a in slo.adjustments)
                            + ". "
                            if slo.adjustments
                            else ""
                        )
                        + f"Objective {number(slo.objective_percent)}%: {slo.description}"
                    ),
                    "runbook_url": slo.runbook_url,
                },
            }
        )
    return rules


def _members(service: str, slos: Sequence[SLO], window: str | None = None) -> str:
    names = "|".join(s.name for s in slos)
    narrow = "" if window is None else f',{c.LABEL_WINDOW}="{window}"'
    return f'{{{c.LABEL_SERVICE}="{service}",{c.LABEL_SLO}=~"{names}"{narrow}}}'


def _windowed(slos: Sequence[SLO]) -> bool:
    """Some SLO has several periods: budget series are told apart by ``slo_window``."""
    return any(s.extra_periods for s in slos)


def _runbook(slo: SLO) -> str:
    """The SLO's runbook, as a template when it is the default one (shared rules)."""
    default = c.DEFAULT_RUNBOOK_URL.format(name=slo.name)
    return (
        c.DEFAULT_RUNBOOK_URL.format(name=f"{{{{ $labels.{c.LABEL_SLO} }}}}")
        if slo.runbook_url == default
        else slo.runbook_url
    )


_COVERAGE = (
    "{{ with printf `%s{%s='%s'}` "
    f'"{c.RULE_PERIOD_COVERAGE}" "{c.LABEL_SLO}" $labels.{c.LABEL_SLO} | query }}}}'
    "{{ . | first | value | humanizeDuration }}{{ end }}"
)
# With several periods: the coverage of the alert's own period (an absent label is "").
_WINDOW_COVERAGE = (
    "{{ with printf `%s{%s='%s',%s='%s'}` "
    f'"{c.RULE_PERIOD_COVERAGE}" "{c.LABEL_SLO}" $labels.{c.LABEL_SLO} '
    f'"{c.LABEL_WINDOW}" $labels.{c.LABEL_WINDOW} | query }}}}'
    "{{ . | first | value | humanizeDuration }}{{ end }}"
)
_AND_WINDOW = f"and on({c.LABEL_SLO}, {c.LABEL_SERVICE}, {c.LABEL_WINDOW})"


def _covered(service: str, slos: Sequence[SLO]) -> str:
    """True (as a filter) for SLOs whose period figures cover their policy's minimum share.

    With several periods per SLO, each period's figures against its own share,
    matched on ``slo_window`` (the first period's: no such label).
    """
    if not _windowed(slos):
        needed: dict[float, list[SLO]] = {}
        for slo in slos:
            seconds = slo.policy.min_coverage * slo.period.total_seconds()
            needed.setdefault(seconds, []).append(slo)
        parts = [
            f"{c.RULE_PERIOD_COVERAGE}{_members(service, members)} >= {number(seconds)}"
            for seconds, members in sorted(needed.items())
        ]
        return f"{_AND} ({' or '.join(parts)})"
    windows: dict[tuple[float, str], list[SLO]] = {}
    for slo in slos:
        for period in slo.periods:
            window = "" if period == slo.period else format_duration(period)
            seconds = slo.policy.min_coverage * period.total_seconds()
            windows.setdefault((seconds, window), []).append(slo)
    parts = [
        f"{c.RULE_PERIOD_COVERAGE}{_members(service, members, window)} >= {number(seconds)}"
        for (seconds, window), members in sorted(windows.items())
    ]
    return f"{_AND_WINDOW} ({' or '.join(parts)})"


def budget_thresholds(slo: SLO) -> dict[str, float]:
    """Budget-left threshold of each budget alert the SLO gets, from its policy.

    SLOErrorBudgetLow at the review threshold (only above the freeze one),
    SLOBreach at the freeze threshold (0 when the policy has none).
    """
    low = slo.policy.budget_threshold(Action.REVIEW)
    breach = slo.policy.budget_threshold(Action.FREEZE)
    breach = 0.0 if breach is None else breach
    out = {c.ALERT_BUDGET_LOW: low} if low is not None and low > breach else {}
    return {**out, c.ALERT_BREACH: breach}


def budget_alert_rules(service: str, slos: Sequence[SLO]) -> list[dict[str, Any]]:
    """SLOErrorBudgetLow and SLOBreach, thresholds from each SLO's error-budget policy.

    Low fires while the period budget left is at or under the policy's review
    threshold and above the freeze one; Breach at or under the freeze threshold
    (0 when the policy has none: the period SLI is below the objective). Both
    wait until the figures cover the policy's ``min_coverage`` share of the
    period: on a fresh history one early failure weighs as much as a month lets it.
    """
    remaining = c.RULE_BUDGET_REMAINING
    groups: dict[tuple[str, float | None, float, str], list[SLO]] = {}
    for slo in slos:
        thresholds = budget_thresholds(slo)
        breach = thresholds[c.ALERT_BREACH]
        runbook = _runbook(slo)
        if c.ALERT_BUDGET_LOW in thresholds:
            low = thresholds[c.ALERT_BUDGET_LOW]
            groups.setdefault((c.ALERT_BUDGET_LOW, low, breach, runbook), []).append(slo)
        groups.setdefault((c.ALERT_BREACH, None, breach, runbook), []).append(slo)
    rules = []
    for (alert, low, breach, runbook), members in groups.items():
        sel = f"{remaining}{_members(service, members)}"
        covered = _covered(service, members)
        # Several periods: one alert per period, its window named in the summary.
        who = "{{ $labels.slo }}"
        if _windowed(members):
            who += f"{{{{ with $labels.{c.LABEL_WINDOW} }}}} ({{{{ . }}}}){{{{ end }}}}"
        if alert == c.ALERT_BUDGET_LOW:
            assert low is not None
            expr = f"({sel} <= {number(low)}) > {number(breach)}\n{covered}\n"
            summary = f"{who}: error budget low, ticket"
            what = (
                f"Only {{{{ $value | humanizePercentage }}}} of the error budget is left "
                f"(the policy reviews at {number(low * 100)}% or less)"
            )
        else:
            expr = f"{sel} <= {number(breach)}\n{covered}\n"
            summary = f"{who}: SLO breached over its period, ticket"
            what = (
                "The SLI is below the objective: {{ $value | humanizePercentage }} of the "
                f"error budget left (the policy freezes at {number(breach * 100)}% or less)"
            )
        rules.append(
            {
                "alert": alert,
                "expr": expr,
                "labels": {c.LABEL_SEVERITY: c.SEVERITY_TICKET},
                "annotations": {
                    "summary": summary,
                    "description": f"{what}, over the last "
                    f"{_WINDOW_COVERAGE if _windowed(members) else _COVERAGE} of data.",
                    "runbook_url": runbook,
                },
            }
        )
    return rules


def no_data_rule(service: str, slos: Sequence[SLO]) -> dict[str, Any]:
    """SLOSLINoData: an SLO whose SLI recorded nothing for NO_DATA_FOR cannot alert."""
    shorts = sorted({s.short_window for s in slos})
    measured = " or ".join(
        f'{c.error_ratio_rule(w)}{{{c.LABEL_SERVICE}="{service}"}}' for w in shorts
    )
    listed = f'{c.RULE_OBJECTIVE}{{{c.LABEL_SERVICE}="{service}"}}'
    return {
        "alert": c.ALERT_NO_DATA,
        "expr": f"{listed} unless on({c.LABEL_SLO}, {c.LABEL_SERVICE}) ({measured})",
        "for": c.NO_DATA_FOR,
        "labels": {c.LABEL_SEVERITY: c.SEVERITY_TICKET},
        "annotations": {
            "summary": "{{ $labels.slo }}: SLI has no data, ticket",
            "description": (
                f"No SLI data for {c.NO_DATA_FOR}: its series are absent (renamed metric, "
                "changed labels), the latency threshold bucket is missing on every instance, "
                "or all its targets are down. No burn-rate alert can fire for this SLO until "
                "it is measured again; check with `slolab slo validate --against URL`."
            ),
            "runbook_url": c.DEFAULT_RUNBOOK_URL.format(name="slo-sli-no-data"),
        },
    }


def dropped_notes(slo: SLO) -> list[str]:
    """Conditions left out because they could never fire, for the file header."""
    return [
        f"{slo.name}: {policy.alert} without {number(d.factor)}x over "
        f"{format_duration(d.long)}/{format_duration(d.short)}: "
        f"{d.reason}"
        for policy in slo.alert_policies
        for d in policy.dropped
    ]
