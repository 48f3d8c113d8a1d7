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

import html
import math
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from typing import Any

import yaml

from slolab.slo import conventions as c
from slolab.slo.durations import format_duration, parse_duration
from slolab.slo.model import SLO, LatencySLI, RatioSLI, SampleSLI, number
from slolab.slo.promtool import at_own_intervals, run_rule_tests
from slolab.slo.synthetic import (
    SimulationError,
    matchers_of,
    selects,
    series_labels,
    series_name,
)

__all__ = [
    "DEFAULT_ERROR_RATIOS",
    "AlertTiming",
    "Simulation",
    "SimulationError",
    "SimulationRow",
    "at_own_intervals",
    "budget_detection",
    "default_error_ratios",
    "selects",
    "series_labels",
    "simulate",
    "to_html",
    "to_markdown",
    "workbook_detection",
]

# Candidate error ratios; those not above the budget (burn rate <= 1) are left out.
DEFAULT_ERROR_RATIOS = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002)
SCRAPE_INTERVAL = timedelta(seconds=15)  # as in the shipped Prometheus configuration
_EVENTS_PER_SCRAPE = 100  # steady traffic; ratios are scale-free, so any rate works
# promtool's engine refuses a query that loads over 10,000 samples (its test limit),
# and a 3-day window of 15 s scrapes holds 17,280 per series. So clean history
# before the outage is thinned to one sample per HISTORY_STEP (exact for counters
# growing linearly), and the scrape interval doubles until the longest window fits.
HISTORY_STEP = 300
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


def _notation(values: Sequence[Fraction | None]) -> str:
    """promtool's expanding notation: runs of a constant step become ``a+bxN``, gaps ``_xN``."""
    parts, i = [], 0
    while i < len(values):
        j = i
        if values[i] is None:
            while j + 1 < len(values) and values[j + 1] is None:
                j += 1
            parts.append("_" if j == i else f"_ _x{j - i}")
            i = j + 1
            continue
        nxt = values[i + 1] if i + 1 < len(values) else None
        step = nxt - values[i] if nxt is not None else Fraction(0)
        while j + 1 < len(values) and values[j + 1] is not None:
            if values[j + 1] - values[j] != step:
                break
            j += 1
        start, count = number(float(values[i])), j - i
        if count == 0:
            parts.append(start)
        elif step == 0:
            parts.append(f"{start}x{count}")
        else:
            sign = "+" if step > 0 else "-"
            parts.append(f"{start}{sign}{number(float(abs(step)))}x{count}")
        i = j + 1
    return " ".join(parts)


@dataclass(frozen=True)
class _Timeline:
    scrape: int  # seconds
    evaluation: int
    start: int  # outage start (seconds from 0)
    end: int  # outage end
    stop: int  # last evaluation
    dense_from: int = 0  # before this, one sample every HISTORY_STEP (clean, linear history)
    # (from, to, error ratio) in seconds from 0: a timeline of ratios instead of one
    # outage (slolab.slo.timeline); the series are then built with ratio 1
    segments: tuple[tuple[int, int, Fraction], ...] = ()

    @property
    def scrapes(self) -> int:
        return self.stop // self.scrape + 1

    def present(self, k: int) -> bool:
        t = k * self.scrape
        return t >= self.dense_from or t % HISTORY_STEP == 0

    def thin(self, values: Sequence[Fraction]) -> list[Fraction | None]:
        return [v if self.present(k) else None for k, v in enumerate(values)]

    def bad_share(self, t0: int, t1: int) -> Fraction:
        """Share of (t0, t1] inside the outage (with segments: weighted by their ratios)."""
        if self.segments:
            bad = sum((r * max(min(t1, b) - max(t0, a), 0) for a, b, r in self.segments),
                      Fraction(0))  # fmt: skip
            return bad / (t1 - t0)
        lo, hi = max(t0, self.start), min(t1, self.end)
        return Fraction(max(hi - lo, 0), t1 - t0)

    def ratio_at(self, t: int, ratio: Fraction) -> tuple[Fraction, int] | None:
        """(error ratio, since when) of the sample ending at ``t``; None outside any outage."""
        if not self.segments:
            return (ratio, self.start) if self.start < t <= self.end else None
        for a, b, r in self.segments:
            if a < t <= b:
                return r, a
        return None


def _counter(tl: _Timeline, per_scrape: Callable[[Fraction], Fraction]) -> list[Fraction]:
    """Cumulative counts; ``per_scrape(bad share of the interval)`` events per scrape."""
    values, total = [Fraction(0)], Fraction(0)
    for k in range(1, tl.scrapes):
        total += per_scrape(tl.bad_share((k - 1) * tl.scrape, k * tl.scrape))
        values.append(total)
    return values


def _dithered(tl: _Timeline, ratio: Fraction, unit: int) -> list[bool]:
    """Per scrape: bad or not, spreading ``ratio`` evenly over the outage in steps of ``unit``.

    ``unit`` is the scrape interval for scraped 0/1 series and the evaluation
    interval for recorded ones (a rule reads one scrape per evaluation).
    """
    out = []
    for k in range(tl.scrapes):
        t = k * tl.scrape
        step = t // unit
        # A sample stands for the interval it ends, as a counter's increase does.
        inside = tl.ratio_at(step * unit, ratio)
        if inside is None:
            out.append(False)
            continue
        r, since = inside
        n = step - since // unit
        out.append(math.floor((n + 1) * r) > math.floor(n * r))
    return out


def _input_series(slo: SLO, ratio: Fraction, tl: _Timeline) -> list[dict[str, str]]:
    rate = Fraction(_EVENTS_PER_SCRAPE)
    sli = slo.sli

    def counter(positive: Sequence[str], negative: str | None, bad: bool | None) -> dict:
        name, labels = series_labels(positive, negative)
        if bad is None:
            values = _counter(tl, lambda share: rate)
        elif bad:
            values = _counter(tl, lambda share: rate * ratio * share)
        else:
            values = _counter(tl, lambda share: rate * (1 - ratio * share))
        return {"series": series_name(name, labels), "values": _notation(tl.thin(values))}

    if isinstance(sli, RatioSLI):
        part, bad = (sli.errors, True) if sli.errors is not None else (sli.good, False)
        assert part is not None
        if matchers_of(part)[0] == matchers_of(sli.total)[0]:
            # One metric split in two: the part, and the rest of the total.
            return [counter([part, sli.total], None, bad),
                    counter([sli.total], part, not bad)]  # fmt: skip
        return [counter([part], None, bad), counter([sli.total], None, None)]
    if isinstance(sli, LatencySLI):
        name, labels = series_labels([f"{sli.histogram}_bucket{{{sli.matchers}}}"])
        labels["le"] = number(sli.threshold_seconds)  # as the Python client writes it
        good = _counter(tl, lambda share: rate * (1 - ratio * share))
        count = counter([f"{sli.histogram}_count{{{sli.matchers}}}"], None, None)
        return [{"series": series_name(name, labels), "values": _notation(tl.thin(good))}, count]
    if isinstance(sli, SampleSLI):
        return [_sample_series(slo, sli, ratio, tl)]
    raise SimulationError(f"slo {slo.name!r}: cannot simulate a {sli.kind} SLI")


def _sample_series(slo: SLO, sli: SampleSLI, ratio: Fraction, tl: _Timeline) -> dict[str, str]:
    if sli.kind == "probe":
        name, labels = series_labels([sli.source])
        bad = _dithered(tl, ratio, tl.scrape)
        values = [Fraction(0 if b else 1) for b in bad]
        return {"series": series_name(name, labels), "values": _notation(values)}
    bad = _dithered(tl, ratio, tl.evaluation)
    if sli.kind == "freshness":
        max_age = _bool_limit(sli)
        name, labels = series_labels([sli.source])
        # Fresh: trained at this very scrape; stale: twice the allowed age ago.
        values = [Fraction(k * tl.scrape) - (2 * max_age if b else 0) for k, b in enumerate(bad)]
        return {"series": series_name(name, labels), "values": _notation(values)}
    if sli.kind in ("cpu", "memory"):
        return _resource_series(slo, sli, bad, tl)
    if sli.kind != "threshold":
        raise SimulationError(f"slo {slo.name!r}: cannot simulate a {sli.kind} SLI")
    expr, op, limit = sli.source, sli.op, _bool_limit(sli)
    try:
        name, labels = series_labels([expr])
    except (SimulationError, ValueError):
        raise SimulationError(
            f"slo {slo.name!r}: can simulate a threshold SLI only on a plain series selector, "
            f"not {expr!r}"
        ) from None
    good = {"<": limit - 1, "<=": limit, ">": limit + 1, ">=": limit, "==": limit,
            "!=": limit + 1}[op]  # fmt: skip
    worse = {"<": limit + 1, "<=": limit + 1, ">": limit - 1, ">=": limit - 1, "==": limit + 1,
             "!=": limit}[op]  # fmt: skip
    values = [worse if b else good for b in bad]
    return {"series": series_name(name, labels), "values": _notation(values)}


def _resource_series(slo: SLO, sli: SampleSLI, bad: list[bool], tl: _Timeline) -> dict[str, str]:
    """CPU: a seconds counter at half or twice ``max_cores``; memory: a gauge at half or twice."""
    limit = _bool_limit(sli)
    name, labels = series_labels([sli.source])
    if sli.kind == "memory":
        values = [limit * 2 if b else limit / 2 for b in bad]
    else:
        values, used = [], Fraction(0)
        for b in bad:
            values.append(used)
            used += (limit * 2 if b else limit / 2) * tl.scrape
    return {"series": series_name(name, labels), "values": _notation(values)}


def _bool_limit(sli: SampleSLI) -> Fraction:
    """The SLI's limit, exactly as the rules write it (``0.8``, not the nearest binary)."""
    return Fraction(number(sli.limit))


# --- the rules, as generated ----------------------------------------------------------


def _rule_groups(slo: SLO, alerts: Sequence[str]) -> list[dict[str, Any]]:
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


def _timeline(
    slo: SLO, duration: timedelta, scrape: timedelta, alerts: Sequence[str] | None = None
) -> _Timeline:
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
            return _Timeline(interval, evaluation, start, end, stop, dense_from)
        interval *= 2
        if interval > 3600:
            raise SimulationError(
                f"an outage of {format_duration(duration)} is too long to simulate"
            )


def _budget_timeline(slo: SLO, duration: timedelta) -> _Timeline:
    """A whole clean period, then the outage; evaluated once per aggregate."""
    aggregate = int(parse_duration(c.AGGREGATE_INTERVAL).total_seconds())
    # Two scrapes in every aggregate's window, with Prometheus 2's closed ranges or 3's open ones.
    scrape = aggregate // 2
    start = math.ceil((slo.period.total_seconds() + aggregate) / aggregate) * aggregate
    end = start + int(duration.total_seconds())
    stop = math.ceil((end + 2 * aggregate) / aggregate) * aggregate
    return _Timeline(scrape, aggregate, start, end, stop)


def _timings(
    slo: SLO, ratio: float, tl: _Timeline, alerts: Sequence[tuple[str, str, timedelta | None]]
) -> list[AlertTiming]:
    """Run ``slo``'s rules for ``alerts`` (name, severity, formula) on one outage."""
    series = _input_series(slo, Fraction(repr(ratio)), tl)
    tests, exprs = [], {}
    window = f"{tl.stop - tl.start + tl.evaluation}s:{tl.evaluation}s"
    for alert, _, _ in alerts:
        sel = (f'ALERTS{{alertname="{alert}",alertstate="firing",'
               f'{c.LABEL_SLO}="{slo.name}"}}')  # fmt: skip
        for fn in ("min_over_time", "max_over_time", "count_over_time"):
            expr = f"{fn}(timestamp({sel})[{window}])"
            exprs[(alert, fn)] = expr
            tests.append({"expr": expr, "eval_time": f"{tl.stop}s", "exp_samples": []})
    groups = _rule_groups(slo, [a for a, _, _ in alerts])
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


def _row(slo: SLO, ratio: float, tl: _Timeline, budget: _Timeline | None) -> SimulationRow:
    duration = timedelta(seconds=tl.end - tl.start)
    burn = [(p.alert, p.severity, workbook_detection(slo, p.alert, ratio))
            for p in slo.alert_policies]  # fmt: skip
    timings = _timings(slo, ratio, tl, burn)
    if budget is not None:
        from slolab.slo.generate.alerts import budget_thresholds

        alerts = [(alert, c.SEVERITY_TICKET, budget_detection(slo, threshold, ratio))
                  for alert, threshold in budget_thresholds(slo).items()]  # fmt: skip
        timings += _timings(slo, ratio, budget, alerts)
    consumed = ratio * duration.total_seconds() / (slo.error_budget * slo.period.total_seconds())
    return SimulationRow(ratio, ratio / slo.error_budget, tuple(timings), consumed)


def simulate(
    slo: SLO,
    error_ratios: Sequence[float] | None = None,
    duration: timedelta = timedelta(hours=1),
    scrape_interval: timedelta = SCRAPE_INTERVAL,
    budget_alerts: bool = False,
) -> Simulation:
    """Run ``slo``'s generated rules on an outage of each error ratio lasting ``duration``.

    ``budget_alerts``: also SLOErrorBudgetLow and SLOBreach, after a whole clean period.
    """
    ratios = list(error_ratios) if error_ratios is not None else default_error_ratios(slo)
    for r in ratios:
        if not 0 < r <= 1:
            raise SimulationError(f"error ratio {r!r} must be above 0 and at most 1")
    if duration <= timedelta(0):
        raise SimulationError(f"duration {duration} must be longer than zero")
    if scrape_interval.total_seconds() < 1 or scrape_interval.total_seconds() % 1:
        raise SimulationError(f"scrape interval {scrape_interval} must be whole seconds")
    tl = _timeline(slo, duration, scrape_interval)
    budget = _budget_timeline(slo, duration) if budget_alerts else None
    # One promtool run per error ratio, in parallel: each is a separate process.
    with ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 1)) as pool:
        rows = tuple(pool.map(lambda r: _row(slo, r, tl, budget), ratios))
    return Simulation(slo, duration, timedelta(seconds=tl.evaluation),
                      timedelta(seconds=tl.scrape), rows)  # fmt: skip


# --- rendering -------------------------------------------------------------------------------


def _dur(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = value.total_seconds()
    if seconds < 0:  # resolved before the outage ended (it flapped)
        return "-" + _dur(-value)
    if seconds < 120:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    return format_duration(timedelta(seconds=round(seconds)))


_BUDGET_SHORT = {c.ALERT_BUDGET_LOW: "budget low", c.ALERT_BREACH: "breach"}


def _short(timing: AlertTiming) -> str:
    if timing.alert in _BUDGET_SHORT:
        return _BUDGET_SHORT[timing.alert]
    return "page" if timing.severity == c.SEVERITY_PAGE else "ticket"


def _head(sim: Simulation) -> list[str]:
    head = ["error ratio", "burn rate"]
    for timing in sim.rows[0].alerts if sim.rows else ():
        short = _short(timing)
        formula = "formula" if timing.alert in _BUDGET_SHORT else "Workbook"
        head += [f"{short} after", f"{short} ({formula})", f"{short} resolves"]
    return [*head, "budget cost"]


def _cells(sim: Simulation) -> list[list[str]]:
    rows = []
    for row in sim.rows:
        cells = [f"{row.error_ratio * 100:g}%", f"{row.burn_rate:.4g}x"]
        for t in row.alerts:
            resolved = _dur(t.resolved_after)
            if t.resolved_after is not None and t.resolved_after >= timedelta(0):
                resolved = "+" + resolved
            elif t.fires_after is not None and t.resolved_after is None:
                resolved = f"~{format_duration(sim.slo.period)}"  # as the outage leaves the period
            cells += [_dur(t.fires_after), _dur(t.workbook), resolved]
        cells.append(f"{row.budget_consumed * 100:.1f}%")
        rows.append(cells)
    return rows


def _intro(sim: Simulation) -> str:
    s = sim.slo
    return (
        f"{s.name}: objective {number(s.objective_percent)}% over {format_duration(s.period)}; an "
        f"outage of "
        f"{format_duration(sim.duration)} at each error ratio, after clean traffic. Rules "
        f"evaluated every {format_duration(sim.evaluation_interval)} by promtool, series scraped "
        f"every {format_duration(sim.scrape_interval)}. 'after': from the outage's start; "
        "'resolves': after its end; Workbook: factor x (1 - objective) x long window ÷ error "
        "ratio; budget cost: share of one period's error budget."
    ) + (_BUDGET_INTRO.format(period=format_duration(s.period), every=c.AGGREGATE_INTERVAL) if any(
        t.alert in _BUDGET_SHORT for row in sim.rows for t in row.alerts) else "")  # fmt: skip


_BUDGET_INTRO = (
    " Budget alerts: after a whole clean period, rules evaluated every {every} (once per "
    "aggregate); formula: (1 - threshold) x (1 - objective) x period ÷ error ratio; "
    "'~{period}': resolves as the outage leaves the period."
)


def to_markdown(sim: Simulation) -> str:
    head = _head(sim)
    lines = [f"# Simulation: {sim.slo.name}", "", _intro(sim), ""]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join("---" for _ in head) + "|")
    lines += ["| " + " | ".join(r) + " |" for r in _cells(sim)]
    return "\n".join(lines) + "\n"


def _chart(sim: Simulation) -> str:
    """Detection time against error ratio, log-log: simulated dots, the Workbook's line."""
    from slolab.slo.report.svg import SERIES_COLOURS

    w, h, left, right, top, bottom = 680, 300, 70, 170, 28, 40
    points = [(r.error_ratio, t) for r in sim.rows for t in r.alerts]
    secs = [v.total_seconds() for _, t in points for v in (t.fires_after, t.workbook) if v]
    ratios = [r.error_ratio for r in sim.rows]
    if not secs or not ratios:
        return "<p>No alert fires for these error ratios.</p>"
    x_lo, x_hi = math.log10(min(ratios)) - 0.1, math.log10(max(ratios)) + 0.1
    y_lo, y_hi = math.log10(min(secs)) - 0.1, math.log10(max(secs)) + 0.1

    def x(v: float) -> float:
        return left + (w - left - right) * (math.log10(v) - x_lo) / (x_hi - x_lo)

    def y(v: float) -> float:
        return top + (h - top - bottom) * (y_hi - math.log10(v)) / (y_hi - y_lo)

    title = f"{sim.slo.name}: time to alert by error ratio"
    parts = [
        f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="18" font-size="13" font-weight="bold">{html.escape(title)}</text>',
    ]
    for r in ratios:
        parts.append(f'<text x="{x(r):.1f}" y="{h - 22}" font-size="10" text-anchor="middle">'
                     f"{r * 100:g}%</text>")  # fmt: skip
    for s in sorted({min(secs), max(secs)}):
        parts.append(f'<text x="{left - 6}" y="{y(s) + 4:.1f}" font-size="10" text-anchor="end">'
                     f"{html.escape(_dur(timedelta(seconds=s)))}</text>")  # fmt: skip
    names = [f"{_short(t)}: {t.alert}" for t in sim.rows[0].alerts]
    for i, name in enumerate(names):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        line = [(r.error_ratio, r.alerts[i].workbook) for r in sim.rows]
        coords = " ".join(f"{x(e):.1f},{y(v.total_seconds()):.1f}" for e, v in line if v)
        if coords:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-dasharray="4 3" '
                         f'points="{coords}"/>')  # fmt: skip
        for r in sim.rows:
            fired = r.alerts[i].fires_after
            if fired is not None:
                parts.append(f'<circle cx="{x(r.error_ratio):.1f}" '
                             f'cy="{y(max(fired.total_seconds(), 1e-3)):.1f}" r="3.5" '
                             f'fill="{colour}"/>')  # fmt: skip
        parts.append(f'<text x="{w - right + 8}" y="{top + 16 * i + 10}" font-size="9" '
                     f'fill="{colour}">{html.escape(name)}</text>')  # fmt: skip
    parts.append(f'<text x="{w - right + 8}" y="{top + 16 * len(names) + 14}" font-size="10">'
                 "dots: promtool; dashes: Workbook</text>")  # fmt: skip
    parts.append(f'<text x="{(left + w - right) / 2:.0f}" y="{h - 6}" font-size="10" '
                 'text-anchor="middle">error ratio (log)</text></svg>')  # fmt: skip
    return "".join(parts)


def to_html(sims: Sequence[Simulation]) -> str:
    """One self-contained page (the report's style): per SLO the table and the chart."""
    from slolab.slo.report.html import html_page, html_table

    body = ["<h1>SLO simulation</h1>"]
    for sim in sims:
        body.append(f'<h2 id="{html.escape(sim.slo.name)}">{html.escape(sim.slo.name)}</h2>')
        body.append(f"<p>{html.escape(_intro(sim))}</p>")
        body.append(html_table(_head(sim), _cells(sim)))
        body.append(f'<div class="charts">{_chart(sim)}</div>')
    return html_page("SLO simulation", body)
