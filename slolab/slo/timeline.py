"""A timeline of error ratios through an SLO's generated rules, offline (promtool).

``slolab slo simulate`` asks one question per error ratio: one outage, then
clean traffic. A game day is a timeline instead: a ratio that changes (a fault
on and off, a flapping one, two in a row). This runs such a timeline through
the very rules ``slolab slo generate`` writes, with the simulator's engine
(``slolab.slo.simulate``: series that match the SLO's selectors, a full long
window of clean history first, each group at its own interval), and answers
when each burn-rate alert first and last fired and how many times it started.

The simulator's timing (:func:`~slolab.slo.simulate.outage_timeline`), its
rule groups and the synthetic series (:mod:`slolab.slo.synthetic`) are shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from slolab.slo import promql
from slolab.slo.model import SLO, Adjustment
from slolab.slo.promtool import run_rule_tests
from slolab.slo.simulate import (
    SCRAPE_INTERVAL,
    SimulationError,
    outage_timeline,
    rule_groups,
    workbook_detection,
)
from slolab.slo.synthetic import input_series

__all__ = [
    "AlertRun",
    "Segment",
    "TimelineResult",
    "budget_spent",
    "outside",
    "run_timeline",
]


@dataclass(frozen=True)
class Segment:
    """``ratio`` of the SLO's events bad from ``start`` to ``end`` (from the timeline's 0)."""

    start: timedelta
    end: timedelta
    ratio: float


@dataclass(frozen=True)
class AlertRun:
    alert: str
    severity: str
    first: timedelta | None  # from the timeline's 0; None: never fired
    last: timedelta | None
    evaluations: int  # evaluations it was firing at
    starts: int  # times it began firing (over 1: it flapped)


@dataclass(frozen=True)
class TimelineResult:
    slo: SLO
    length: timedelta
    evaluation_interval: timedelta
    scrape_interval: timedelta
    alerts: tuple[AlertRun, ...]


def budget_spent(slo: SLO, segments: Sequence[Segment]) -> float:
    """Share of one period's budget the timeline spends, at steady traffic."""
    bad = sum(s.ratio * (s.end - s.start).total_seconds() for s in segments)
    return bad / (slo.error_budget * slo.period.total_seconds())


def outside(
    segments: Sequence[Segment], windows: Sequence[tuple[timedelta, timedelta]]
) -> list[Segment]:
    """``segments`` with the stretches inside ``windows`` (budget adjustments) cut out."""
    out = list(segments)
    for lo, hi in windows:
        cut: list[Segment] = []
        for s in out:
            if s.start < lo:
                cut.append(Segment(s.start, min(s.end, lo), s.ratio))
            if s.end > hi:
                cut.append(Segment(max(s.start, hi), s.end, s.ratio))
        out = cut
    return out


def formula_detection(slo: SLO, alert: str, ratio: float) -> timedelta | None:
    """The Workbook's detection time of a constant ``ratio`` (see slolab.slo.simulate)."""
    return workbook_detection(slo, alert, ratio)


def run_timeline(
    slo: SLO,
    segments: Sequence[Segment],
    length: timedelta,
    alerts: Sequence[str] | None = None,
    scrape_interval: timedelta = SCRAPE_INTERVAL,
    adjustments: Sequence[tuple[timedelta, timedelta]] = (),
) -> TimelineResult:
    """Evaluate ``slo``'s burn-rate alerts (or ``alerts``) over ``segments`` lasting ``length``.

    Before 0, a full long window of clean traffic; alerts are read up to ``length``
    (what a live run of that length sees). ``adjustments``: budget adjustments
    (start, end) from 0, added to the SLO's own, so its generated rules hold them.
    """
    if length <= timedelta(0):
        raise SimulationError(f"length {length} must be longer than zero")
    for s in segments:
        if not (timedelta(0) <= s.start < s.end <= length and 0 <= s.ratio <= 1):
            raise SimulationError(f"segment {s} must lie within 0..{length}, ratio 0..1")
    policies = [p for p in slo.alert_policies if p.conditions]
    wanted = [(p.alert, p.severity) for p in policies if alerts is None or p.alert in alerts]
    tl = outage_timeline(slo, length, scrape_interval, [a for a, _ in wanted] or None)
    ev = tl.evaluation
    tl = replace(
        tl,
        segments=tuple(
            (
                tl.start + int(s.start.total_seconds()),
                tl.start + int(s.end.total_seconds()),
                Fraction(repr(s.ratio)),
            )
            for s in segments
            if s.ratio > 0
        ),
    )
    if not wanted:
        return TimelineResult(slo, length, timedelta(seconds=ev), timedelta(seconds=tl.scrape), ())
    if adjustments:
        # promtool's clock starts at the Unix epoch: the timeline's 0 is tl.start there.
        origin = datetime.fromtimestamp(tl.start, UTC)
        added = tuple(
            Adjustment(f"timeline-{i}", "timeline", origin + lo, hi - lo)
            for i, (lo, hi) in enumerate(adjustments)
        )
        slo = replace(slo, adjustments=slo.adjustments + added)
    series = input_series(slo, Fraction(1), tl)
    # Only what a live run of ``length`` would see: up to its end.
    window = f"{tl.end - tl.start + ev}s:{ev}s"
    tests, exprs = [], {}
    for alert, _ in wanted:
        queries = {
            fn: promql.firing_times(alert, slo, fn, window)
            for fn in ("min_over_time", "max_over_time", "count_over_time")
        }
        queries["starts"] = promql.firing_starts(alert, slo, window, f"{ev}s")
        for key, expr in queries.items():
            exprs[(alert, key)] = expr
            tests.append({"expr": expr, "eval_time": f"{tl.end}s", "exp_samples": []})
    groups = rule_groups(slo, [a for a, _ in wanted])
    values = run_rule_tests(groups, series, tests, tl.evaluation, tl.scrape)
    runs = []
    for alert, severity in wanted:
        first = values.get(exprs[(alert, "min_over_time")])
        last = values.get(exprs[(alert, "max_over_time")])
        runs.append(
            AlertRun(
                alert,
                severity,
                None if first is None else timedelta(seconds=first - tl.start),
                None if last is None else timedelta(seconds=last - tl.start),
                int(values.get(exprs[(alert, "count_over_time")]) or 0),
                int(values.get(exprs[(alert, "starts")]) or 0),
            )
        )
    return TimelineResult(
        slo, length, timedelta(seconds=ev), timedelta(seconds=tl.scrape), tuple(runs)
    )
