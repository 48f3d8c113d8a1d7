"""SLI and error-budget trends over the last N windows: direction, slope, exhaustion.

Per SLO two range queries over raw series (so backfilled history counts): the
SLI of each window, and the budget left over the SLO period ending at each
window's end. A least-squares line through the budget gives the slope (share
of the budget per day), the direction and the days until it reaches zero.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from slolab.slo import budget, promql
from slolab.slo import conventions as c
from slolab.slo.durations import parse_duration, whole_minutes
from slolab.slo.model import SLO
from slolab.slo.query import Prometheus, sli_query
from slolab.slo.views import NO_VALUE, duration, percent

__all__ = ["STABLE_SLOPE", "Trend", "WindowPoint", "analyse", "direction", "render", "slope"]

# A budget moving less than 1% of itself per day is "stable": noise, not a trend.
STABLE_SLOPE = 0.01
_DAY = 86400.0


@dataclass(frozen=True)
class WindowPoint:
    end: datetime
    sli: float | None  # over the window ending here
    budget_remaining: float | None  # over the SLO period ending here


@dataclass(frozen=True)
class Trend:
    slo: SLO
    window: str
    points: tuple[WindowPoint, ...]
    sli_slope: float | None  # SLI change per day
    budget_slope: float | None  # budget (1 = all of it) change per day
    direction: str  # improving, degrading, stable, exhausted, too few windows, no data
    days_to_exhaustion: float | None  # None: not heading to zero, or unknown
    # History the last budget figure covers (slo:period_coverage:seconds, else from the
    # first window with data); less than the period while the data is younger.
    span: timedelta | None = None

    @property
    def partial(self) -> bool:
        return self.span is not None and self.span < self.slo.period


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ys over xs; None with fewer than two distinct points."""
    if len(xs) < 2 or len(set(xs)) < 2:
        return None
    return statistics.linear_regression(xs, ys).slope


def direction(budget_slope: float | None, last_remaining: float | None) -> str:
    if last_remaining is None:
        return "no data"
    if budget.is_exhausted(last_remaining) and (
        budget_slope is None or budget_slope <= STABLE_SLOPE
    ):
        return "exhausted"
    if budget_slope is None:  # one window with a budget figure: no slope yet
        return "too few windows"
    if budget_slope > STABLE_SLOPE:
        return "improving"
    if budget_slope < -STABLE_SLOPE:
        return "degrading"
    return "stable"


def _by_time(
    prom: Prometheus, expr: str, start: float, end: float, step: float
) -> dict[float, float]:
    series = prom.query_range(expr, start, end, timedelta(seconds=step))
    return {t: v for s in series[:1] for t, v in s.points if v is not None}


def analyse(
    prom: Prometheus, slo: SLO, window: str, count: int, end: datetime | None = None
) -> Trend:
    """The trend of ``slo`` over ``count`` consecutive windows of ``window`` ending at ``end``."""
    if count < 2:
        raise ValueError(f"windows: {count} is too few for a trend (at least 2)")
    step = parse_duration(window).total_seconds()
    end_t = float(int((end or datetime.now(UTC)).timestamp()))
    start_t = end_t - (count - 1) * step
    slis = _by_time(prom, sli_query(slo, window), start_t, end_t, step)
    periods = _by_time(prom, sli_query(slo, slo.period), start_t, end_t, step)
    points = []
    for i in range(count):
        t = start_t + i * step
        sli = slis.get(t)
        sli = None if sli is None else min(max(sli, 0.0), 1.0)
        psli = periods.get(t)
        left = (
            None
            if psli is None
            else budget.remaining_budget(min(max(psli, 0.0), 1.0), slo.objective)
        )
        points.append(WindowPoint(datetime.fromtimestamp(t, UTC), sli, left))
    have_sli = [(p.end.timestamp() / _DAY, p.sli) for p in points if p.sli is not None]
    have_budget = [
        (p.end.timestamp() / _DAY, p.budget_remaining)
        for p in points
        if p.budget_remaining is not None
    ]
    span = _span(prom, slo, end_t, points, step)
    sli_slope = slope([x for x, _ in have_sli], [y for _, y in have_sli])
    budget_slope = slope([x for x, _ in have_budget], [y for _, y in have_budget])
    last = have_budget[-1][1] if have_budget else None
    days = None
    if last is not None:
        if budget.is_exhausted(last):
            days = 0.0
        elif budget_slope is not None and budget_slope < 0:
            days = last / -budget_slope
    return Trend(
        slo, window, tuple(points), sli_slope, budget_slope, direction(budget_slope, last), days,
        span,
    )  # fmt: skip


def _span(
    prom: Prometheus, slo: SLO, end: float, points: Sequence[WindowPoint], step: float
) -> timedelta | None:
    """What the last budget figure covers: recorded coverage, else the data's first window."""
    recorded = prom.value(promql.period_recorded(slo, c.RULE_PERIOD_COVERAGE), end)
    if recorded is not None:
        return min(timedelta(seconds=recorded), slo.period)
    first = next((p for p in points if p.sli is not None), None)
    if first is None:
        return None
    since = first.end.timestamp() - step
    return min(timedelta(seconds=end - since), slo.period)


def render(trends: Sequence[Trend]) -> str:
    lines = []
    for tr in trends:
        if tr.days_to_exhaustion == 0:
            days = "exhausted"
        elif tr.days_to_exhaustion is not None:
            days = f"{tr.days_to_exhaustion:.1f}"
        else:
            days = NO_VALUE
        per_day = NO_VALUE if tr.budget_slope is None else f"{tr.budget_slope * 100:+.2f}%/day"
        over = duration(tr.slo.period)
        if tr.partial and tr.span is not None:
            over += f", over the last {duration(whole_minutes(tr.span))} of data"
        lines.append(
            f"{tr.slo.name}: {tr.direction}; budget {per_day}; days to exhaustion: {days} "
            f"(last {len(tr.points)} windows of {tr.window}, "
            f"objective {percent(tr.slo.objective, 2)}; budget over {over})"
        )
        for p in tr.points:
            sli = percent(p.sli, 4, missing="no traffic")
            left = percent(p.budget_remaining, 1, missing="no data")
            lines.append(
                f"  {p.end:%Y-%m-%d %H:%M}Z  SLI {sli:>10}  budget left "
                f"({duration(tr.slo.period)}) {left}"
            )
    return "\n".join(lines) if lines else "no SLOs selected"
