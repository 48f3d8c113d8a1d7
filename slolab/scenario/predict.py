"""``slolab scenario predict``: the scorecard the alerts will give, before anything starts.

Each SLO the scenario makes fail (slolab.scenario.effects) runs its timeline of
error ratios through its generated burn-rate alerts with promtool
(slolab.slo.timeline), alert by alert and in parallel: every page, and the
tickets an expectation names (unexpected tickets are not simulated). An alert that cannot
fire within the scenario, even at the timeline's highest ratio from its first
moment, is not run (the Workbook's bound is a lower bound). Budget spent is
the formula at steady traffic. Beside each expected alert stands the
Workbook's detection time for the ratio the SLO sees from the expectation's
origin.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from slolab.scenario.effects import segments as slo_segments
from slolab.scenario.spec import Scenario
from slolab.slo import conventions as c
from slolab.slo.model import SLO
from slolab.slo.scorecard import Firing, Outcome, Scorecard, score
from slolab.slo.timeline import (
    AlertRun,
    Segment,
    budget_spent,
    formula_detection,
    outside,
    run_timeline,
)

__all__ = ["Prediction", "predict"]

BURN_ALERTS = (c.ALERT_PAGE, c.ALERT_TICKET)


@dataclass(frozen=True)
class Prediction:
    scenario: Scenario
    slos: tuple[SLO, ...]
    segments: dict[str, list[Segment]]  # per SLO the scenario makes fail
    runs: dict[tuple[str, str], AlertRun]  # (alert, slo) -> promtool's answer
    outcome: Outcome
    formula: dict[tuple[str, str], timedelta | None]
    scorecard: Scorecard
    notes: list[str] = field(default_factory=list)


def _can_fire(slo: SLO, alert: str, segs: Sequence[Segment], length: timedelta) -> bool:
    if not segs:
        return False
    fastest = formula_detection(slo, alert, max(s.ratio for s in segs))
    return fastest is not None and segs[0].start + fastest <= length


def _ratio_from(segs: Sequence[Segment], origin: timedelta) -> float | None:
    for s in segs:
        if s.end > origin:
            return s.ratio
    return None


def predict(scenario: Scenario, slos: Sequence[SLO], workers: int = 2) -> Prediction:
    """Run ``scenario`` through the generated rules of ``slos`` offline."""
    by_name = {s.name: s for s in slos}
    segs = {s.name: slo_segments(s, scenario) for s in slos}
    # Pages for every SLO (a page nobody expected fails the card); tickets only where an
    # expectation names one: a 30-day SLO's ticket reads 3 days of history (~15 s of CPU).
    named = {e.key for e in scenario.alerts}
    jobs = [
        (by_name[name], alert)
        for name, ss in segs.items()
        for alert in BURN_ALERTS
        if (alert == c.ALERT_PAGE or (alert, name) in named)
        and _can_fire(by_name[name], alert, ss, scenario.duration)
    ]

    def windows(slo: SLO) -> list[tuple[timedelta, timedelta]]:
        return [(a.start, a.end) for a in scenario.adjusted(slo.name)]

    def run(job: tuple[SLO, str]) -> tuple[tuple[str, str], AlertRun | None]:
        slo, alert = job
        result = run_timeline(slo, segs[slo.name], scenario.duration, alerts=[alert],
                              adjustments=windows(slo))  # fmt: skip
        return (alert, slo.name), next(iter(result.alerts), None)

    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        runs = {k: r for k, r in pool.map(run, jobs) if r is not None}
    firings = [
        Firing(a, s, r.severity, r.first, r.last, r.evaluations, max(r.starts, 1))
        for (a, s), r in runs.items()
        if r.first is not None
    ]
    # Events inside an adjustment count neither good nor bad (the rules leave out every
    # 5-minute aggregate that overlaps it: at least this much).
    spent = {s.name: budget_spent(s, outside(segs[s.name], windows(s))) for s in slos}
    outcome = Outcome(firings, spent, scenario.duration)
    formula: dict[tuple[str, str], timedelta | None] = {}
    notes = []
    for exp in scenario.alerts:
        if not exp.fire or exp.slo not in by_name:
            continue
        ratio = _ratio_from(segs[exp.slo], exp.origin)
        if ratio is None:
            notes.append(
                f"{exp.describe()}: nothing in the scenario makes {exp.slo} fail "
                "after its origin: it cannot fire"
            )
            formula[exp.key] = None
            continue
        if exp.alert not in BURN_ALERTS:
            notes.append(
                f"{exp.describe()}: predict runs the burn-rate alerts only "
                "(budget alerts: slolab slo simulate --budget)"
            )
            formula[exp.key] = None
            continue
        first = next(s for s in segs[exp.slo] if s.end > exp.origin)
        detect = formula_detection(by_name[exp.slo], exp.alert, ratio)
        # from the origin: the formula counts from where the ratio starts
        formula[exp.key] = (
            None if detect is None else max(first.start - exp.origin, timedelta(0)) + detect
        )
        if detect is None:
            notes.append(
                f"{exp.describe()}: at {ratio:.3g} of events bad no condition of "
                f"{exp.alert} holds for {exp.slo} "
                f"(burn {ratio / by_name[exp.slo].error_budget:.3g}x)"
            )
    card = score(scenario.alerts, scenario.budgets, outcome, predicted=outcome, formula=formula)
    for check in card.checks:
        if check.passed is False:
            notes.append(f"the policy cannot meet: {check.name} ({check.detail})")
    return Prediction(
        scenario,
        tuple(slos),
        {k: v for k, v in segs.items() if v},
        runs,
        outcome,
        formula,
        card,
        notes,
    )
