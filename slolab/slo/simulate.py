"""What-if: when does an outage page, ticket and resolve, and what does it cost?

For an SLO and a list of error ratios, the simulator writes synthetic series
that match the SLO's own selectors (steady traffic, then ``error_ratio`` of
it bad for ``duration``, then clean again), generates the SLO's rules in
process exactly as ``slolab slo generate`` does, and runs them through
``promtool test rules``, which evaluates every rule at each step of simulated
time. So the answer is the shipped alert policy's, not a model of it.

Beside each result stands the SRE Workbook's formula (ch. 5): a condition
with threshold ``factor`` over a long window ``W`` detects a constant error
ratio ``e`` after ``factor x (1 - objective) x W ÷ e``; the alert is the
first of its conditions to hold. The simulation lands on the first rule
evaluation after that instant (evaluations every ``FAST_INTERVAL``), except
for the long ticket windows read from the 5-minute aggregates: the outage
reaches those one aggregate at a time, each recorded at the end of its five
minutes and read by the alert at its next evaluation.

promtool evaluates every group at one evaluation interval; ``at_own_intervals``
gates a group of recording rules with a longer interval (the aggregates) so it
records only at its own interval, as Prometheus does. The groups run in the
generated order at each step (the alerts' group first), so an aggregate recorded
at ``T`` is read at ``T + FAST_INTERVAL``: the latest a real Prometheus, whose
groups run at unrelated phases, would read it.

Budget cost: bad events of the outage ÷ (budget x events of a whole period)
at the simulated steady traffic, i.e. ``e x duration ÷ ((1 - objective) x period)``.

With ``budget_alerts`` the budget alerts (SLOErrorBudgetLow, SLOBreach) are
simulated too, in a second promtool run: a whole clean period of steady traffic
first (so the period figures cover the period and the policy's ``min_coverage``
hold is met, as on a Prometheus that has run a while), then the outage, rules
evaluated every ``AGGREGATE_INTERVAL`` (the period figures change only when an
aggregate lands). Beside them stands the budget formula: an alert at budget-left
threshold ``b`` fires once the outage has spent ``1 - b`` of the budget,
``(1 - b) x (1 - objective) x period ÷ e``, at the first aggregate after that.
They resolve only as the outage leaves the period. A 30-day period is slow to
simulate (over 8,640 evaluations per error ratio; about a minute each here).
SLOSLINoData is not an error-ratio question: it fires ``NO_DATA_FOR`` after an
SLI's series stop, whatever the ratio before.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from typing import Any

import yaml

from slolab.slo import conventions as c
from slolab.slo import promql
from slolab.slo.durations import format_duration, parse_duration
from slolab.slo.model import SLO, SampleSLI
from slolab.slo.promtool import run_rule_tests
from slolab.slo.synthetic import (
    HISTORY_STEP,
    SimulationError,
    Timeline,
    input_series,
)

__all__ = [
    "DEFAULT_ERROR_RATIOS",
    "AlertTiming",
    "Simulation",
    "SimulationError",
    "SimulationRow",
    "budget_detection",
    "default_error_ratios",
    "outage_timeline",
    "rule_groups",
    "simulate",
    "workbook_detection",
]

# Candidate error ratios; those not above the budget (burn rate <= 1) are left out.
DEFAULT_ERROR_RATIOS = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002)
SCRAPE_INTERVAL = timedelta(seconds=15)  # as in the shipped Prometheus configuration
# promtool refuses a query that loads over 10,000 samples: clean history is thinned
# (synthetic.HISTORY_STEP) and the scrape interval doubles until the longest window fits.
_MAX_SAMPLES = 9000
_DENSE_BEFORE = 3600  # full-rate samples this long before the outage (the page windows)


@dataclass(frozen=True)
class AlertTiming:
    """One alert in one scenario; times from the outage's start (``resolved_after``: its end)."""

    alert: str
    severity: str
    fires_after: timedelta | None  # None: never fires
    # After the outage ends; None: never fired, or still firing when the simulation
    # ends (budget alerts: until the outage leaves the period).
    resolved_after: timedelta | None
    workbook: timedelta | None  # the formula's detection time; None: no condition can fire
    firing_evaluations: int = 0


@dataclass(frozen=True)
class SimulationRow:
    error_ratio: float
    burn_rate: float
    alerts: tuple[AlertTiming, ...]
    budget_consumed: float  # share of one period's budget the outage spends


@dataclass(frozen=True)
class Simulation:
    slo: SLO
    duration: timedelta
    evaluation_interval: timedelta
    scrape_interval: timedelta
    rows: tuple[SimulationRow, ...]
    rate: float | None = None  # events per second; None: steady traffic (scale-free)


# --- the Workbook's formula ----------------------------------------------------------


def workbook_detection(slo: SLO, alert: str, error_ratio: float) -> timedelta | None:
    """Time until ``alert`` detects a constant ``error_ratio``: factor x budget x long ÷ ratio."""
    times = []
    for policy in slo.alert_policies:
        if policy.alert != alert:
            continue
        for cond in policy.conditions:
            threshold = cond.factor * slo.error_budget
            if error_ratio > threshold:
                long = cond.long.total_seconds()
                times.append(threshold * long / error_ratio)
    return timedelta(seconds=min(times)) if times else None


def budget_detection(slo: SLO, threshold: float, error_ratio: float) -> timedelta:
    """Time until an outage at ``error_ratio`` leaves ``threshold`` of a full period's budget."""
    seconds = (1 - threshold) * slo.error_budget * slo.period.total_seconds() / error_ratio
    return timedelta(seconds=seconds)


def default_error_ratios(slo: SLO) -> list[float]:
    """DEFAULT_ERROR_RATIOS that burn faster than 1x (the others never alert)."""
    return [r for r in DEFAULT_ERROR_RATIOS if r > slo.error_budget]


# --- the rules, as generated ----------------------------------------------------------


def rule_groups(slo: SLO, alerts: Sequence[str]) -> list[dict[str, Any]]:
    """The generated groups of ``slo``, cut to ``alerts`` and the rules they read."""
    from slolab.slo.generate import GenerateOptions
    from slolab.slo.generate.rules import OUTPUT

    rendered = OUTPUT.render([slo], GenerateOptions())
    groups = [g for text in rendered.values() for g in yaml.safe_load(text)["groups"]]
    rules = [r for g in groups for r in g["rules"]]
    keep = [r for r in rules if r.get("alert") in alerts]
    needed: set[str] = set()
    frontier = [r["expr"] for r in keep]
    while frontier:
        expr = frontier.pop()
        for r in rules:
            name = r.get("record")
            if name and name not in needed and re.search(rf"(?<![\w:]){re.escape(name)}\b", expr):
                needed.add(name)
                frontier.append(r["expr"])
    out = []
    for g in groups:
        kept = [r for r in g["rules"] if r.get("alert") in alerts or r.get("record") in needed]
        if kept:
            out.append({**g, "rules": kept})
    return out


# --- the simulation ---------------------------------------------------------------------


def outage_timeline(
    slo: SLO, duration: timedelta, scrape: timedelta, alerts: Sequence[str] | None = None
) -> Timeline:
    """Series timing for an outage of ``duration``; history long enough for ``alerts``' windows."""
    evaluation = int(parse_duration(c.FAST_INTERVAL).total_seconds())
    aggregate = int(parse_duration(c.AGGREGATE_INTERVAL).total_seconds())
    conds = [x for p in slo.alert_policies if alerts is None or p.alert in alerts
             for x in p.conditions]  # fmt: skip
    longest = int(max(x.long for x in conds).total_seconds())
    reset = int(max(x.short for x in conds).total_seconds())
    counters = not isinstance(slo.sli, SampleSLI)
    series = 3 if counters else 1  # series one window query reads, at most
    interval = int(scrape.total_seconds())
    while True:
        # Outage edges on the aggregates' boundaries: each aggregate is clean or inside.
        unit = math.lcm(evaluation, interval, aggregate, HISTORY_STEP if counters else 1)
        # A full long window of clean history first, so every window starts in steady state.
        start = math.ceil((longest + _DENSE_BEFORE + unit) / unit) * unit
        end = start + int(duration.total_seconds())
        stop = math.ceil((end + reset + 2 * evaluation) / unit) * unit
        dense_from = start - _DENSE_BEFORE if counters else 0
        window = min(longest, stop - dense_from) // interval
        if counters:
            window += max(longest - (stop - dense_from), 0) // HISTORY_STEP
        if series * window <= _MAX_SAMPLES:
            return Timeline(interval, evaluation, start, end, stop, dense_from)
        interval *= 2
        if interval > 3600:
            raise SimulationError(
                f"an outage of {format_duration(duration)} is too long to simulate"
            )


def _budget_timeline(slo: SLO, duration: timedelta) -> Timeline:
    """A whole clean period, then the outage; evaluated once per aggregate."""
    aggregate = int(parse_duration(c.AGGREGATE_INTERVAL).total_seconds())
    # Two scrapes in every aggregate's window, with Prometheus 2's closed ranges or 3's open ones.
    scrape = aggregate // 2
    start = math.ceil((slo.period.total_seconds() + aggregate) / aggregate) * aggregate
    end = start + int(duration.total_seconds())
    stop = math.ceil((end + 2 * aggregate) / aggregate) * aggregate
    return Timeline(scrape, aggregate, start, end, stop)


def _timings(
    slo: SLO,
    ratio: float,
    timeline: Timeline,
    alerts: Sequence[tuple[str, str, timedelta | None]],
    rate: float | None,
) -> list[AlertTiming]:
    """Run ``slo``'s rules for ``alerts`` (name, severity, formula) on one outage."""
    tl = timeline
    if rate is None:
        series = input_series(slo, Fraction(repr(ratio)), tl)
    else:  # whole events: at night a request now and then, good or bad
        per_scrape = Fraction(repr(rate)) * tl.scrape
        series = input_series(slo, Fraction(repr(ratio)), tl, per_scrape, whole=True)
    tests, exprs = [], {}
    window = f"{tl.stop - tl.start + tl.evaluation}s:{tl.evaluation}s"
    for alert, _, _ in alerts:
        for fn in ("min_over_time", "max_over_time", "count_over_time"):
            expr = promql.firing_times(alert, slo, fn, window)
            exprs[(alert, fn)] = expr
            tests.append({"expr": expr, "eval_time": f"{tl.stop}s", "exp_samples": []})
    groups = rule_groups(slo, [a for a, _, _ in alerts])
    values = run_rule_tests(groups, series, tests, tl.evaluation, tl.scrape)
    timings = []
    for alert, severity, formula in alerts:
        first = values.get(exprs[(alert, "min_over_time")])
        last = values.get(exprs[(alert, "max_over_time")])
        count = values.get(exprs[(alert, "count_over_time")])
        fires = None if first is None else timedelta(seconds=first - tl.start)
        # Resolved at the first evaluation after the last firing one (if it came).
        resolved = (
            None if last is None or last >= tl.stop
            else timedelta(seconds=last + tl.evaluation - tl.end)
        )  # fmt: skip
        timings.append(AlertTiming(alert, severity, fires, resolved, formula, int(count or 0)))
    return timings


def _simulate_ratio(
    slo: SLO, ratio: float, outage: Timeline, budget: Timeline | None, rate: float | None
) -> SimulationRow:
    """One row: the burn-rate alerts on ``outage``, the budget alerts on ``budget``."""
    duration = timedelta(seconds=outage.end - outage.start)
    burn = [(p.alert, p.severity, workbook_detection(slo, p.alert, ratio))
            for p in slo.alert_policies]  # fmt: skip
    timings = _timings(slo, ratio, outage, burn, rate)
    if budget is not None:
        from slolab.slo.generate.alerts import budget_thresholds

        alerts = [(alert, c.SEVERITY_TICKET, budget_detection(slo, threshold, ratio))
                  for alert, threshold in budget_thresholds(slo).items()]  # fmt: skip
        timings += _timings(slo, ratio, budget, alerts, rate)
    consumed = ratio * duration.total_seconds() / (slo.error_budget * slo.period.total_seconds())
    return SimulationRow(ratio, ratio / slo.error_budget, tuple(timings), consumed)


def simulate(
    slo: SLO,
    error_ratios: Sequence[float] | None = None,
    duration: timedelta = timedelta(hours=1),
    scrape_interval: timedelta = SCRAPE_INTERVAL,
    budget_alerts: bool = False,
    rate: float | None = None,
    min_events: int | None = None,
) -> Simulation:
    """Run ``slo``'s generated rules on an outage of each error ratio lasting ``duration``.

    ``budget_alerts``: also SLOErrorBudgetLow and SLOBreach, after a whole clean period.
    ``rate``: events per second of the SLI (request SLIs), before, during and after
    the outage; None: steady traffic, which only a minimum count of events notices.
    ``min_events``: the SLO's ``alerting.min_events`` as if set to it (0: none).
    """
    ratios = list(error_ratios) if error_ratios is not None else default_error_ratios(slo)
    for r in ratios:
        if not 0 < r <= 1:
            raise SimulationError(f"error ratio {r!r} must be above 0 and at most 1")
    if duration <= timedelta(0):
        raise SimulationError(f"duration {duration} must be longer than zero")
    if scrape_interval.total_seconds() < 1 or scrape_interval.total_seconds() % 1:
        raise SimulationError(f"scrape interval {scrape_interval} must be whole seconds")
    if rate is not None and not (rate > 0 and math.isfinite(rate)):
        raise SimulationError(f"rate {rate!r} must be above 0 events per second")
    if rate is not None and isinstance(slo.sli, SampleSLI):
        raise SimulationError(
            f"slo {slo.name!r}: a {slo.sli.kind} SLI counts samples, not requests: "
            "its rate is the scrape interval's"
        )
    if min_events is not None:
        if min_events < 0:
            raise SimulationError(f"min_events {min_events} must be 0 (none) or more")
        slo = dataclasses.replace(slo, min_events=min_events or None)
    outage = outage_timeline(slo, duration, scrape_interval)
    budget = _budget_timeline(slo, duration) if budget_alerts else None
    # One promtool run per error ratio, in parallel: each is a separate process.
    with ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 1)) as pool:
        rows = tuple(pool.map(lambda r: _simulate_ratio(slo, r, outage, budget, rate), ratios))
    return Simulation(slo, duration, timedelta(seconds=outage.evaluation),
                      timedelta(seconds=outage.scrape), rows, rate)  # fmt: skip
