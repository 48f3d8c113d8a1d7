"""The figures of a compliance report over a period, from Prometheus.

Per SLO two range queries fetch good and total events (or samples) per step
from raw series (about 120 steps per period, so backfilled history counts);
everything else is arithmetic here and in :mod:`slolab.slo.budget`:

- SLI over the period = sum(good) / sum(total) (traffic-weighted);
- budget left at time t = 1 - bad events so far / (budget x all events of the
  period), from full at the start down to the period's final remaining budget;
- violations = runs of steps whose SLI was under the objective, with the share
  of the period's budget each spent;
- recommendations from the numbers (exhausted, fast spending, too loose, no data).

The result, :class:`Report`, is what the renderers (:mod:`.markdown`,
:mod:`.html`, :mod:`.svg`) take; they never see Prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from slolab.slo import budget, promql
from slolab.slo import conventions as c
from slolab.slo.durations import format_duration, parse_duration, whole_minutes
from slolab.slo.model import SLO
from slolab.slo.query import Prometheus, counts_queries
from slolab.slo.views import duration, percent

if TYPE_CHECKING:
    from slolab.slo.incidents import Incident

__all__ = [
    "CALENDARS",
    "POINTS",
    "Report",
    "SLOReport",
    "Violation",
    "analyse",
    "build",
    "calendar_window",
    "with_incidents",
]

POINTS = 120  # steps per report period: enough for a chart, cheap to query
# Below this much data the report gives no advice on the objective itself.
MIN_SPAN_FOR_ADVICE = timedelta(days=1)


@dataclass(frozen=True)
class Violation:
    start: datetime
    end: datetime
    worst_sli: float
    budget_spent: float  # share of the period's budget spent in this run


@dataclass(frozen=True)
class SLOReport:
    slo: SLO
    start: datetime
    end: datetime
    step: timedelta
    sli_points: tuple[tuple[datetime, float | None], ...]  # SLI per step
    budget_points: tuple[tuple[datetime, float], ...]  # budget left over time
    good: float
    total: float
    violations: tuple[Violation, ...]
    recommendations: tuple[str, ...]
    # History the figures cover: the SLO's recorded slo:period_coverage:seconds when
    # the report spans its period, else from the first step with data. None: no data.
    span: timedelta | None = None
    # Budget adjustments in the window (name, reason, start, end): their steps are
    # left out of the SLI and budget, as the generated rules leave them out.
    adjustments: tuple[tuple[str, str, datetime, datetime], ...] = ()
    # The SLO's further periods (``periods: [30d, 7d]``), each a report over that
    # period ending at the same time (its ``slo`` shows that period as its own).
    periods: tuple[SLOReport, ...] = ()

    @property
    def partial(self) -> bool:
        return self.span is not None and self.span < self.end - self.start

    @property
    def sli(self) -> float | None:
        return None if self.total <= 0 else min(max(self.good / self.total, 0.0), 1.0)

    @property
    def budget_remaining(self) -> float | None:
        return None if self.sli is None else budget.remaining_budget(self.sli, self.slo.objective)

    @property
    def budget_consumed(self) -> float | None:
        return None if self.sli is None else budget.budget_consumed(self.sli, self.slo.objective)

    @property
    def compliant(self) -> bool | None:
        return None if self.sli is None else self.sli >= self.slo.objective

    @property
    def status(self) -> str:
        return {None: "no data", True: "met", False: "missed"}[self.compliant]


@dataclass(frozen=True)
class Report:
    generated_at: datetime
    source: str
    slos: tuple[SLOReport, ...]
    incidents: tuple[Incident, ...] | None = None  # None: not asked for

    @property
    def start(self) -> datetime:
        return min(r.start for r in self.slos)

    @property
    def end(self) -> datetime:
        return max(r.end for r in self.slos)


def with_incidents(prom: Prometheus, report: Report) -> Report:
    """The report with the incidents (page/ticket episodes) of its whole window."""
    from slolab.slo.incidents import find

    found = find(prom, [r.slo for r in report.slos], report.start, report.end)
    return replace(report, incidents=tuple(found))


def _step(period: timedelta) -> timedelta:
    minutes = max(math.ceil(period.total_seconds() / POINTS / 60), 1)
    return timedelta(minutes=minutes)


def _values(
    prom: Prometheus, expr: str, start: float, end: float, step: timedelta
) -> dict[float, float]:
    series = prom.query_range(expr, start, end, step)
    return {t: v for s in series[:1] for t, v in s.points if v is not None}


def _recommend(r: SLOReport, events: str) -> list[str]:
    left = r.budget_remaining
    if r.sli is None:
        return [
            f"No {events} were recorded: check that the SLI selectors match exported series "
            "and that the targets are scraped."
        ]
    out = []
    if left is not None and left <= 0:
        out.append(
            "The error budget is exhausted: freeze feature releases and put the team on "
            "reliability work until the SLI is back above the objective."
        )
    elif left is not None and left < 0.25:
        out.append(
            f"Only {percent(left, 0)} of the budget is left: review the riskiest planned changes "
            "and slow the release pace."
        )
    if r.violations:
        worst = max(r.violations, key=lambda v: v.budget_spent)
        out.append(
            f"{len(r.violations)} period(s) under the objective; the worst, from "
            f"{worst.start:%Y-%m-%d %H:%M} UTC, spent {percent(worst.budget_spent, 0)} of the "
            "budget: make sure each has a postmortem and its action items are tracked."
        )
    if r.span is not None and r.span < MIN_SPAN_FOR_ADVICE:
        out.append(
            f"Only {duration(whole_minutes(r.span))} of data: too little to judge the "
            "objective; look again after a day or more."
        )
    elif left is not None and left > 0.9 and not r.violations:
        out.append(
            f"Only {percent(1 - left, 0)} of the budget was spent: the objective may be looser "
            "than users need; consider tightening it, or spend the budget on faster releases."
        )
    if not out:
        out.append("On track: no action needed beyond the regular review.")
    return out


def analyse(
    slo: SLO,
    start: datetime,
    end: datetime,
    step: timedelta,
    good: dict[float, float],
    total: dict[float, float],
    coverage: float | None = None,
) -> SLOReport:
    """Build an SLO's report from good/total events per step (keyed by step end, unix time).

    ``coverage``: seconds of history the SLO's recorded period figures cover, if known.
    """
    times = []
    t = start.timestamp() + step.total_seconds()
    while t <= end.timestamp() + 1e-6:
        times.append(t)
        t += step.total_seconds()
    planned = tuple(
        (a.name, a.reason, lo, hi) for a in slo.adjustments for lo, hi in a.windows(start, end)
    )
    bad_per_step, sli_points, all_total = [], [], 0.0
    for t in times:
        tot, ok = total.get(t), good.get(t)
        when = datetime.fromtimestamp(t, UTC)
        if any(lo < when and hi > when - step for _, _, lo, hi in planned):
            # planned work: neither good nor bad (the rules drop these stretches too)
            bad_per_step.append(0.0)
            sli_points.append((when, None))
            continue
        if tot is None or tot <= 0 or ok is None:
            # No events, or a good series that matches nothing: no data, not 100%.
            bad_per_step.append(0.0)
            sli_points.append((when, None))
            continue
        ok = min(max(ok, 0.0), tot)  # increase() extrapolation can nudge good past total
        all_total += tot
        bad_per_step.append(tot - ok)
        sli_points.append((when, ok / tot))
    all_bad = sum(bad_per_step)
    allowed_bad = budget.error_budget(slo.objective) * all_total
    budget_points, spent = [(start, 1.0)], 0.0
    for (when, _), bad in zip(sli_points, bad_per_step, strict=True):
        spent += bad
        if allowed_bad > 0:
            budget_points.append((when, 1 - spent / allowed_bad))
    violations, run = [], []
    for (when, sli), bad in zip(sli_points, bad_per_step, strict=True):
        if sli is not None and sli < slo.objective:
            run.append((when, sli, bad))
            continue
        if run:
            violations.append(_violation(run, step, allowed_bad))
            run = []
    if run:
        violations.append(_violation(run, step, allowed_bad))
    with_data = [t for t in times if total.get(t) is not None]
    span = None
    if coverage is not None:
        span = min(timedelta(seconds=coverage), end - start)
    elif with_data:
        first = datetime.fromtimestamp(with_data[0], UTC) - step
        span = min(end - max(first, start), end - start)
    partial = SLOReport(
        slo, start, end, step, tuple(sli_points), tuple(budget_points),
        all_total - all_bad, all_total, tuple(violations), (), span, planned,
    )  # fmt: skip
    events = "events" if slo.sli.kind in ("ratio", "latency") else "samples"
    return replace(partial, recommendations=tuple(_recommend(partial, events)))


def _violation(
    run: list[tuple[datetime, float, float]], step: timedelta, allowed_bad: float
) -> Violation:
    spent = sum(bad for _, _, bad in run) / allowed_bad if allowed_bad > 0 else 0.0
    return Violation(run[0][0] - step, run[-1][0], min(s for _, s, _ in run), spent)


CALENDARS = ("month", "quarter")


def calendar_window(kind: str, end: datetime) -> tuple[datetime, datetime]:
    """The calendar month or quarter (UTC) that ``end`` falls in, from its start to ``end``.

    At a boundary (``end`` = 1 December 00:00) it is the whole period just ended
    (November), so a cron job on the 1st reports the previous month.
    """
    if kind not in CALENDARS:
        raise ValueError(f"calendar: {kind!r} is not one of {', '.join(CALENDARS)}")
    end = end.astimezone(UTC).replace(microsecond=0)
    probe = end - timedelta(seconds=1)  # at a boundary, the period just ended
    first_month = probe.month if kind == "month" else 3 * ((probe.month - 1) // 3) + 1
    start = probe.replace(month=first_month, day=1, hour=0, minute=0, second=0)
    return start, end


def _exact_step(length: timedelta) -> timedelta:
    """A whole-minute step near length / POINTS that divides ``length`` (else _step)."""
    minutes = length.total_seconds() / 60
    if minutes != int(minutes):
        return _step(length)
    lo = max(math.ceil(minutes / POINTS), 1)
    for candidate in range(lo, 2 * lo + 1):
        if int(minutes) % candidate == 0:
            return timedelta(minutes=candidate)
    return _step(length)


def build(
    prom: Prometheus,
    slos: Sequence[SLO],
    period: str | None = None,
    end: datetime | None = None,
    start: datetime | None = None,
) -> Report:
    """Query Prometheus and build the report of ``slos`` over ``period`` (each SLO's own).

    With ``start`` (e.g. from :func:`calendar_window`) the window is fixed instead.
    """
    end = end or datetime.now(UTC)
    end = end.replace(microsecond=0)
    if start is not None and start >= end:
        raise ValueError(f"start {start.isoformat()} must be before end {end.isoformat()}")
    reports = []
    for slo in slos:
        if start is not None:
            step = _exact_step(end - start)
            start_at = end - step * math.ceil((end - start) / step)
            reports.append(_over(prom, slo, start_at, end, step, None))
            continue
        length = parse_duration(period) if period else slo.period
        step = _step(length)
        start_at = end - step * math.ceil(length / step)
        # the recorded span is the SLO's when the report covers one of its periods
        report = _over(prom, slo, start_at, end, step, length if length in slo.periods else None)
        if period is None:
            further = []
            for extra in slo.extra_periods:
                step = _step(extra)
                start_at = end - step * math.ceil(extra / step)
                over = _over(prom, slo, start_at, end, step, extra)
                further.append(replace(over, slo=slo.over(extra)))
            report = replace(report, periods=tuple(further))
        reports.append(report)
    return Report(datetime.now(UTC).replace(microsecond=0), prom.url, tuple(reports))


def _over(
    prom: Prometheus,
    slo: SLO,
    start_at: datetime,
    end: datetime,
    step: timedelta,
    recorded: timedelta | None,
) -> SLOReport:
    """The report of ``slo`` over one window; ``recorded``: the period whose coverage applies."""
    good_q, total_q = counts_queries(slo, format_duration(step))
    first = start_at.timestamp() + step.total_seconds()
    good = _values(prom, good_q, first, end.timestamp(), step)
    total = _values(prom, total_q, first, end.timestamp(), step)
    coverage = None
    if recorded is not None:
        coverage = prom.value(promql.period_recorded(slo, c.RULE_PERIOD_COVERAGE, recorded), end)
    return analyse(slo, start_at, end, step, good, total, coverage)
