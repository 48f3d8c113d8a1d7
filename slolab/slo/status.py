"""Live SLO status from the recorded series: what the alerts and dashboards see.

One instant query fetches every recorded SLO series (names from
:mod:`slolab.slo.conventions`), one more the alerts; the SLO file adds the
objective, period and policy. Burn rates are shown for the windows named as
for 30 days (5m, 1h, 6h) and read from the series of the SLO's own (scaled)
windows, as the alerts do.

An SLO with several periods (``periods: [30d, 7d]``) is decided on its first
period (policy, gate); each further one is a status of its own in ``periods``
(its SLI, budget, coverage and budget alerts, read from the ``slo_window``
series; the short-window burn rates are the SLO's, as its alerts are).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from slolab.slo import budget, promql
from slolab.slo import conventions as c
from slolab.slo.durations import format_duration, parse_duration
from slolab.slo.model import SLO
from slolab.slo.policy import PERIOD, WINDOWS, Action, Decision, Facts, Policies

if TYPE_CHECKING:  # the figures' types: a view of them needs no HTTP client
    from slolab.slo.query import Prometheus

__all__ = ["SHOWN_WINDOWS", "SLOStatus", "State", "collect"]

SHOWN_WINDOWS = ("5m", "1h", "6h")
# Time to exhaustion is forecast from the 1h burn: the 5m one is too jumpy to extrapolate.
FORECAST_WINDOW = "1h"


class State(StrEnum):
    """Where an SLO stands (its value is what the table and the JSON show)."""

    MEETING = "meeting"
    AT_RISK = "at risk"
    VIOLATING = "violating"
    NO_DATA = "no data"


@dataclass(frozen=True)
class SLOStatus:
    slo: SLO
    sli: float | None  # over the period
    budget_remaining: float | None
    burn_rates: dict[str, float | None]  # by 30-day window name, and "period"
    alerts: tuple[str, ...] = ()
    decision: Decision = field(default_factory=lambda: Decision(Action.NONE))
    # Seconds of history the period figures cover (slo:period_coverage:seconds);
    # less than the period while the aggregates are younger than it. None: unknown.
    coverage: float | None = None
    # The SLO's further periods (``periods:`` beyond the first), each as a status of
    # the SLO over that period (``slo.period`` is it); ``window`` names it ("7d"),
    # empty for the first period. They decide nothing: the policy reads the first.
    periods: tuple[SLOStatus, ...] = ()
    window: str = ""

    @property
    def partial(self) -> bool:
        """The period figures cover less than the period."""
        return self.coverage is not None and self.coverage < self.slo.period.total_seconds()

    @property
    def has_data(self) -> bool:
        return self.sli is not None

    @property
    def time_to_exhaustion(self) -> timedelta | None:
        """At the current (1h) burn rate; None: never, or unknown without data."""
        rate = self.burn_rates.get(FORECAST_WINDOW)
        if self.budget_remaining is None or rate is None:
            return None
        return budget.time_to_exhaustion(self.budget_remaining, rate, self.slo.period)

    @property
    def state(self) -> State:
        """No data, violating (budget spent), at risk (alerts, a policy action) or meeting."""
        if not self.has_data:
            return State.NO_DATA
        if self.budget_remaining is not None and budget.is_exhausted(self.budget_remaining):
            return State.VIOLATING
        if self.alerts or self.decision.action > Action.NONE:
            return State.AT_RISK
        return State.MEETING


def _clamp(ratio: float) -> float:
    # Recorded ratios can stray a hair outside [0, 1] (counter resets, float noise).
    return min(max(ratio, 0.0), 1.0)


def _wanted_names() -> str:
    """Regex of the recorded names status reads (every window, whatever its scaled name)."""
    return "|".join(
        [
            c.RULE_ERROR_RATIO_PERIOD,
            c.RULE_BUDGET_REMAINING,
            c.RULE_PERIOD_COVERAGE,
            f"{c.error_ratio_rule('')}.+",
        ]
    )


def _aggregate_windows(
    prom: Prometheus, slos: Sequence[SLO], policies: Policies | None
) -> dict[tuple[str, timedelta], float | None]:
    """Error ratios of the windows read from the aggregates (not recorded), by (slo, window).

    Only the windows some policy rule needs: one query per distinct window.
    """
    wanted: dict[timedelta, list[SLO]] = {}
    for slo in slos:
        policy = policies.for_slo(slo.name) if policies else slo.policy
        for rule in policy.rules:
            for w in rule.windows:
                if w != PERIOD and slo.from_aggregates(slo.scaled(parse_duration(w))):
                    wanted.setdefault(slo.scaled(parse_duration(w)), []).append(slo)
    out: dict[tuple[str, timedelta], float | None] = {}
    for window, members in wanted.items():
        expr = promql.aggregate_sums(members, window)
        sums: dict[tuple[str, str], float | None] = {}
        for sample in prom.query(expr):
            sums[(sample.labels.get(c.LABEL_SLO, ""), sample.labels.get(c.LABEL_EVENTS, ""))] = (
                sample.value
            )
        for slo in members:
            bad, total = sums.get((slo.name, c.EVENTS_ERRORS)), sums.get((slo.name, c.EVENTS_TOTAL))
            ratio = None if bad is None or not total else bad / total
            out[(slo.name, window)] = ratio
    return out


def _period_figures(
    values: dict[tuple[str, str, str], float | None], slo: SLO, window: str
) -> tuple[float | None, float | None, float | None]:
    """SLI, budget left and burn rate over one of the SLO's periods ("": the first)."""
    ratio = values.get((slo.name, c.RULE_ERROR_RATIO_PERIOD, window))
    sli = None if ratio is None else 1 - _clamp(ratio)
    remaining = values.get((slo.name, c.RULE_BUDGET_REMAINING, window))
    if remaining is None and sli is not None:
        remaining = budget.remaining_budget(sli, slo.objective)
    burn = None if ratio is None else budget.burn_rate(_clamp(ratio), slo.objective)
    return sli, remaining, burn


def collect(
    prom: Prometheus, slos: Sequence[SLO], policies: Policies | None = None
) -> list[SLOStatus]:
    """Status of every SLO in ``slos`` from the series Prometheus recorded."""
    # Keyed by period too: an SLO's further periods are told apart by slo_window.
    values: dict[tuple[str, str, str], float | None] = {}
    for sample in prom.query(f'{{__name__=~"{_wanted_names()}"}}'):
        name, slo_name = sample.labels.get("__name__", ""), sample.labels.get(c.LABEL_SLO)
        if slo_name is not None:
            values[(slo_name, name, sample.labels.get(c.LABEL_WINDOW, ""))] = sample.value
    firing: dict[tuple[str, str], list[str]] = {}
    for alert in prom.alerts():
        slo_name = alert.labels.get(c.LABEL_SLO)
        if alert.state == "firing" and slo_name:
            key = (slo_name, alert.labels.get(c.LABEL_WINDOW, ""))
            firing.setdefault(key, []).append(alert.name)

    from_aggregates = _aggregate_windows(prom, slos, policies)
    statuses = []
    for slo in slos:
        sli, remaining, period_burn = _period_figures(values, slo, "")
        rates: dict[str, float | None] = {}
        for window in WINDOWS:
            scaled = slo.scaled(parse_duration(window))
            ratio = values.get((slo.name, c.error_ratio_rule(scaled), ""))
            if ratio is None:
                ratio = from_aggregates.get((slo.name, scaled))
            rates[window] = (
                None if ratio is None else budget.burn_rate(_clamp(ratio), slo.objective)
            )
        rates[PERIOD] = period_burn
        # An explicit policy file wins; else the SLO's own (slos.yaml `policy:`).
        policy = policies.for_slo(slo.name) if policies else slo.policy
        coverage = values.get((slo.name, c.RULE_PERIOD_COVERAGE, ""))
        share = None if coverage is None else coverage / slo.period.total_seconds()
        decision = policy.evaluate(Facts(remaining, rates, share))
        alerts = tuple(sorted(firing.get((slo.name, ""), [])))
        further = []
        for period in slo.extra_periods:
            name = format_duration(period)
            w_sli, w_left, w_burn = _period_figures(values, slo, name)
            further.append(
                SLOStatus(
                    slo.over(period), w_sli, w_left, {**rates, PERIOD: w_burn},
                    tuple(sorted(firing.get((slo.name, name), []))),
                    coverage=values.get((slo.name, c.RULE_PERIOD_COVERAGE, name)), window=name,
                )
            )  # fmt: skip
        statuses.append(
            SLOStatus(slo, sli, remaining, rates, alerts, decision, coverage, tuple(further))
        )
    return statuses
