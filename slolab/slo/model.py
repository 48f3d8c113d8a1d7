"""The SLO model the generators, the toolkit and the dashboards work from.

Built from the validated wire format (:mod:`slolab.slo.spec`). Each SLI kind
knows how to write its good events, total events and error ratio over any
window in PromQL; the SLO adds its objective, period and alert windows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

from slolab.slo import conventions as c
from slolab.slo.durations import format_duration, parse_duration
from slolab.slo.policy import DEFAULT_POLICY, Policy, PolicyError, parse_policy_mapping
from slolab.slo.spec import AdjustmentSpec, SLOFileSpec, SLOSpec, SpecError, load_spec

__all__ = [
    "SLI",
    "SLO",
    "AlertPolicy",
    "BurnCondition",
    "DroppedCondition",
    "LatencySLI",
    "RatioSLI",
    "Review",
    "SampleSLI",
    "from_spec",
    "load",
    "number",
    "scale_window",
]

# Zero traffic: a 0 denominator would give NaN (0/0). No events means no budget
# spent, so the ratio is 0 — but only while the total series exist: with a
# broken selector the sum is empty and the SLI shows as "no data", never 100%.
_DENOMINATOR_FLOOR = "1e-12"


def number(value: float) -> str:
    """Format a float for PromQL and YAML without binary noise (1 - 0.999 -> 0.001)."""
    return f"{value:.12g}"


def _sum(func: str, selector: str, window: str) -> str:
    return f"sum({func}({selector}[{window}]))"


def _guarded_ratio(bad: str, total: str) -> str:
    return f"({bad}) / clamp_min({total}, {_DENOMINATOR_FLOOR})"


@dataclass(frozen=True)
class RatioSLI:
    """Events from counters: ``errors`` (or ``good``) over ``total``."""

    total: str
    errors: str | None = None
    good: str | None = None
    kind: str = field(default="ratio", init=False)

    def good_query(self, window: str) -> str:
        if self.good is not None:
            return f"({_sum('increase', self.good, window)} or vector(0))"
        total = _sum("increase", self.total, window)
        return f"({total} - ({_sum('increase', self.errors or '', window)} or vector(0)))"

    def total_query(self, window: str) -> str:
        return _sum("increase", self.total, window)

    def error_ratio_query(self, window: str, func: str = "rate") -> str:
        total = _sum(func, self.total, window)
        if self.errors is not None:
            # A never-seen error series (no 5xx yet) does not exist: count it as 0.
            bad = f"{_sum(func, self.errors, window)} or vector(0)"
        else:
            bad = f"{total} - ({_sum(func, self.good or '', window)} or vector(0))"
        return _guarded_ratio(bad, total)

    def events_queries(self, window: str) -> tuple[str, str]:
        """(all events, bad events) per second over ``window``."""
        total = _sum("rate", self.total, window)
        if self.errors is not None:
            return total, f"({_sum('rate', self.errors, window)} or vector(0))"
        return total, f"{total} - ({_sum('rate', self.good or '', window)} or vector(0))"

    @property
    def selectors(self) -> tuple[str, ...]:
        return tuple(s for s in (self.errors, self.good, self.total) if s is not None)


def le_matcher(value: float) -> str:
    """Regex matching a bucket boundary as Prometheus 2 and 3 write it.

    Prometheus 3 normalises ``le`` to float formatting (``1`` becomes ``1.0``)
    and Python clients already write ``1.0``; Go clients write ``1``.
    ``[.]`` avoids backslashes that YAML and PromQL strings would both escape.
    """
    text = number(value)
    if "e" in text:
        raise ValueError(f"bucket boundary {value!r} needs a plain decimal form")
    if "." in text:
        return f"{text.replace('.', '[.]')}0*"
    return f"{text}([.]0+)?"


@dataclass(frozen=True)
class LatencySLI:
    """Requests at or under ``threshold_seconds``, from a histogram's cumulative buckets."""

    histogram: str
    matchers: str
    threshold_seconds: float
    buckets: tuple[float, ...] | None  # None: not listed in the spec, threshold unchecked
    kind: str = field(default="latency", init=False)

    def _series(self, suffix: str, extra: str = "") -> str:
        parts = ", ".join(p for p in (self.matchers, extra) if p)
        return f"{self.histogram}_{suffix}{{{parts}}}"

    @property
    def bucket_selector(self) -> str:
        return self._series("bucket", f'le=~"{le_matcher(self.threshold_seconds)}"')

    @property
    def count_selector(self) -> str:
        return self._series("count")

    def _total(self, func: str, window: str) -> str:
        # Only instances that export the threshold bucket: one without it (an old
        # bucket list mid-rollout) would otherwise count every request as slow.
        return (
            f"sum({func}({self.count_selector}[{window}]) "
            f"and ignoring(le) {func}({self.bucket_selector}[{window}]))"
        )

    def good_query(self, window: str) -> str:
        return _sum("increase", self.bucket_selector, window)

    def total_query(self, window: str) -> str:
        return self._total("increase", window)

    def error_ratio_query(self, window: str, func: str = "rate") -> str:
        total = self._total(func, window)
        good = _sum(func, self.bucket_selector, window)
        # No "or vector(0)" on the buckets: a bucket that matches nothing is a broken
        # selector and must show as no data, not as 100% slow.
        return _guarded_ratio(f"{total} - {good}", total)

    def events_queries(self, window: str) -> tuple[str, str]:
        """(all events, bad events) per second over ``window``."""
        total = self._total("rate", window)
        return total, f"{total} - {_sum('rate', self.bucket_selector, window)}"

    @property
    def selectors(self) -> tuple[str, ...]:
        return (self.bucket_selector, self.count_selector)


@dataclass(frozen=True)
class SampleSLI:
    """Good samples over all samples of a 0/1 series, time-weighted.

    ``probe``: the series is scraped as 0/1 (blackbox ``probe_success``).
    ``freshness``/``threshold``: the generator records ``good_expr`` as
    ``slo:sli_good_sample:bool`` every evaluation, and the windows read that.
    """

    kind: str
    series: str  # the 0/1 series windows read
    good_expr: str | None = None  # expression recorded into ``series`` (None for probes)
    source: str = ""  # the selector/expression the user wrote

    def good_query(self, window: str) -> str:
        return _sum("sum_over_time", self.series, window)

    def total_query(self, window: str) -> str:
        return _sum("count_over_time", self.series, window)

    def error_ratio_query(self, window: str, func: str = "rate") -> str:
        del func  # samples, not counters
        # count_over_time is >= 1 whenever the sum exists: no 0/0 here.
        return f"1 - {self.good_query(window)} / {self.total_query(window)}"

    def events_queries(self, window: str) -> tuple[str, str]:
        """(all samples, bad samples) per second over ``window``."""
        seconds = number(parse_duration(window).total_seconds())
        total = f"{self.total_query(window)} / {seconds}"
        return total, f"({self.total_query(window)} - {self.good_query(window)}) / {seconds}"

    def raw_error_ratio_query(self, window: str, step: str = "30s") -> str:
        """The same ratio without the recorded series (a subquery; e.g. for backfilled data)."""
        if self.good_expr is None:
            return self.error_ratio_query(window)
        return f"1 - avg_over_time(({self.good_expr})[{window}:{step}])"

    @property
    def selectors(self) -> tuple[str, ...]:
        return (self.source,) if self.good_expr is None else ()


SLI = RatioSLI | LatencySLI | SampleSLI


@dataclass(frozen=True)
class Review:
    cadence: timedelta
    cadence_str: str
    last_review: date
    reviewers: tuple[str, ...] = ()
    scheduled: date | None = None  # agreed date; else last_review + cadence

    @property
    def next_review(self) -> date:
        return self.scheduled or self.last_review + self.cadence

    def due(self, today: date) -> bool:
        return today >= self.next_review


# ``long`` and ``short`` window error ratios both above ``factor`` times the budget.
BurnCondition = c.WindowPair[str]


@dataclass(frozen=True)
class DroppedCondition(BurnCondition):
    """A condition left out of the alerts (its windows do not fit the period), and why."""

    reason: str


@dataclass(frozen=True)
class AlertPolicy:
    alert: str
    severity: str
    conditions: tuple[BurnCondition, ...]
    dropped: tuple[DroppedCondition, ...] = ()


def scale_window(base: timedelta, period: timedelta) -> timedelta:
    """Scale a window stated for 30 days to ``period``: whole minutes, at least MIN_WINDOW."""
    seconds = base.total_seconds() * period / c.BASE_PERIOD
    minutes = max(round(seconds / 60), 1)
    return max(timedelta(minutes=minutes), c.MIN_WINDOW)


@dataclass(frozen=True)
class Adjustment:
    """Planned work excluded from an SLO's budget (slos.yaml ``adjustments``)."""

    name: str
    reason: str
    start: datetime
    length: timedelta
    every: timedelta | None = None  # recurring

    def overlaps(self, lookback: timedelta = timedelta(0)) -> str:
        """PromQL, 1 while ``(now - lookback, now]`` overlaps the window, else 0.

        Computed from ``time()``: exact at any evaluation, with no series to wait for.
        """
        start = number(self.start.timestamp())
        reach = self.length + lookback  # the window, widened by the lookback
        if self.every is None:
            end = number((self.start + reach).timestamp())
            return f"(time() >= bool {start}) * (time() < bool {end})"
        if reach >= self.every:
            return f"(time() >= bool {start})"
        every, reach_s = number(self.every.total_seconds()), number(reach.total_seconds())
        return f"(time() >= bool {start}) * ((time() - {start}) % {every} < bool {reach_s})"

    def windows(self, since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
        """Each occurrence overlapping ``[since, until)``, as (start, end)."""
        if self.every is None:
            end = self.start + self.length
            return [(self.start, end)] if self.start < until and end > since else []
        skip = max(0, int((since - self.start - self.length) / self.every))
        out, begin = [], self.start + skip * self.every
        while begin < until:
            if begin + self.length > since:
                out.append((begin, begin + self.length))
            begin += self.every
        return out


def adjusted(adjustments: tuple[Adjustment, ...], lookback: timedelta = timedelta(0)) -> str:
    """PromQL vector: 1 while any of ``adjustments`` overlaps the lookback, else 0."""
    parts = " + ".join(a.overlaps(lookback) for a in adjustments)
    return f"vector(clamp_max({parts}, 1))" if len(adjustments) > 1 else f"vector({parts})"


@dataclass(frozen=True)
class SLO:
    name: str
    service: str
    description: str
    owner: str
    sli: SLI
    objective: float  # fraction, e.g. 0.999
    period: timedelta
    period_str: str
    review: Review
    labels: Mapping[str, str]
    runbook_url: str
    policy: Policy = DEFAULT_POLICY
    # Burn conditions need this many events in their long window (None: no minimum).
    min_events: int | None = None
    adjustments: tuple[Adjustment, ...] = ()

    # --- numbers -------------------------------------------------------------
    @property
    def objective_percent(self) -> float:
        return float(number(self.objective * 100))

    @property
    def error_budget(self) -> float:
        """Allowed error ratio, e.g. 0.001 for 99.9% (rounded: 1 - 0.999 is not 0.001)."""
        return float(number(1 - self.objective))

    # --- labels --------------------------------------------------------------
    @property
    def rule_labels(self) -> dict[str, str]:
        """Labels every series of this SLO carries."""
        return {c.LABEL_SLO: self.name, c.LABEL_SERVICE: self.service, **self.labels}

    @property
    def selector(self) -> str:
        """Matchers selecting this SLO's recorded series, e.g. ``{slo="x",service="y"}``."""
        return f'{{{c.LABEL_SLO}="{self.name}",{c.LABEL_SERVICE}="{self.service}"}}'

    # --- PromQL over any window ------------------------------------------------
    def good_query(self, window: str) -> str:
        """PromQL for the number of good events (or samples) over ``window``."""
        return self.sli.good_query(window)

    def total_query(self, window: str) -> str:
        """PromQL for the number of events (or samples) over ``window``."""
        return self.sli.total_query(window)

    def error_ratio_query(self, window: str) -> str:
        """PromQL for the error ratio over ``window``, from raw series (traffic-weighted)."""
        return self.sli.error_ratio_query(window, func="increase")

    def recorded(self, rule: str) -> str:
        """Selector of one of this SLO's recorded series, e.g. ``slo:objective:ratio{...}``."""
        return f"{rule}{self.selector}"

    # --- alert windows -----------------------------------------------------------
    def scaled(self, base: timedelta) -> str:
        return format_duration(scale_window(base, self.period))

    @property
    def alert_policies(self) -> tuple[AlertPolicy, ...]:
        """The Workbook's burn-rate conditions for this SLO, windows scaled to its period.

        A condition whose threshold factor times budget is 1 or more could only fire
        on an error ratio above 100%: it is dropped (and reported), never emitted.
        """
        policies = []
        for policy in c.BURN_POLICIES:
            kept, dropped = [], []
            for pair in policy.pairs:
                long, short = self.scaled(pair.long), self.scaled(pair.short)
                if pair.factor * self.error_budget >= 1:
                    most = 1 / self.error_budget
                    dropped.append(
                        DroppedCondition(
                            long, short, pair.factor,
                            f"{pair.factor:g}x burn needs an error ratio of "
                            f"{number(pair.factor * self.error_budget * 100)}% with "
                            f"{number(self.error_budget * 100)}% budget "
                            f"(at most {most:.3g}x is possible)",
                        )
                    )  # fmt: skip
                else:
                    kept.append(BurnCondition(long, short, pair.factor))
            policies.append(AlertPolicy(policy.alert, policy.severity, tuple(kept), tuple(dropped)))
        return tuple(policies)

    @property
    def windows(self) -> tuple[str, ...]:
        """Every alert window, shortest first (scaled windows may coincide: listed once)."""
        bases = {w for p in c.BURN_POLICIES for pair in p.pairs for w in (pair.long, pair.short)}
        scaled = sorted({scale_window(b, self.period) for b in bases})
        return tuple(format_duration(w) for w in scaled)

    @property
    def short_window(self) -> str:
        """The window of ``slo:current_burn_rate:ratio`` (5m for a 30-day period)."""
        return self.windows[0]

    def from_aggregates(self, window: str) -> bool:
        """Day-long windows (the ticket's long ones) are read from the aggregates, not raw."""
        return parse_duration(window) >= scale_window(c.SLOW_WINDOW_FROM, self.period)

    @property
    def recorded_windows(self) -> tuple[str, ...]:
        """Windows recorded from raw series as ``slo:sli_error:ratio_rate<window>``."""
        return tuple(w for w in self.windows if not self.from_aggregates(w))

    def aggregate_ratio_query(self, window: str, plus: tuple[str, str] | None = None) -> str:
        """Traffic-weighted error ratio over ``window`` from the recorded aggregates.

        A ratio of sums (never an average of ratios); ``sum by (slo, service)``
        also joins the history of series whose labels changed (a label edited in
        slos.yaml) and keeps the labels the alerts match windows on. ``plus``:
        (bad, all) events not aggregated yet, label-less and in the aggregates'
        unit, added to both sums (absent counts as none).
        """
        matchers = (
            f'{c.LABEL_SLO}="{self.name}",{c.LABEL_SERVICE}="{self.service}",{c.LABEL_EVENTS}='
        )
        by = f"sum by ({c.LABEL_SLO}, {c.LABEL_SERVICE})"
        bad, total = (
            f'{by} (sum_over_time({c.RULE_EVENTS_AGGREGATE}{{{matchers}"{kind}"}}[{window}]))'
            for kind in (c.EVENTS_ERRORS, c.EVENTS_TOTAL)
        )
        if plus is not None:
            bad, total = (
                f"{s} + on() group_left() ({p} or vector(0))"
                for s, p in zip((bad, total), plus, strict=True)
            )
        return _guarded_ratio(bad, total)

    def window_events(self, window: str) -> str:
        """PromQL for the number of events over one alert window (label-less).

        Raw counters for the windows recorded from them; the aggregates (events per
        second, one sample per AGGREGATE_INTERVAL) for the day-long ones, as
        ``window_ratio`` does, so a 3-day count never reads raw samples.
        """
        if not self.from_aggregates(window):
            return self.total_query(window)
        matchers = (
            f'{c.LABEL_SLO}="{self.name}",{c.LABEL_SERVICE}="{self.service}",'
            f'{c.LABEL_EVENTS}="{c.EVENTS_TOTAL}"'
        )
        seconds = number(parse_duration(c.AGGREGATE_WINDOW).total_seconds())
        return f"sum(sum_over_time({c.RULE_EVENTS_AGGREGATE}{{{matchers}}}[{window}])) * {seconds}"

    def window_ratio(self, window: str) -> str:
        """PromQL for the error ratio over one alert window: recorded, or from aggregates."""
        if self.from_aggregates(window):
            return self.aggregate_ratio_query(window)
        return self.recorded(c.error_ratio_rule(window))


def _sli_from_spec(slo: SLOSpec) -> SLI:
    sli = slo.sli
    if sli.ratio is not None:
        return RatioSLI(total=sli.ratio.total, errors=sli.ratio.errors, good=sli.ratio.good)
    if sli.latency is not None:
        lat = sli.latency
        buckets = tuple(lat.buckets) if lat.buckets else None
        return LatencySLI(lat.histogram, lat.selector, lat.threshold_seconds, buckets)
    recorded = f'{c.RULE_GOOD_SAMPLE}{{{c.LABEL_SLO}="{slo.name}"}}'
    if sli.probe is not None:
        return SampleSLI("probe", series=sli.probe.selector, source=sli.probe.selector)
    if sli.freshness is not None:
        fr = sli.freshness
        expr = f"time() - {fr.timestamp} < bool {number(fr.max_age_seconds)}"
        return SampleSLI("freshness", series=recorded, good_expr=expr, source=fr.timestamp)
    if sli.cpu is not None:
        cpu = sli.cpu
        expr = f"sum(rate({cpu.selector}[{cpu.rate_window}])) < bool {number(cpu.max_cores)}"
        return SampleSLI("cpu", series=recorded, good_expr=expr, source=cpu.selector)
    if sli.memory is not None:
        mem = sli.memory
        expr = f"sum({mem.selector}) < bool {number(mem.max_bytes)}"
        return SampleSLI("memory", series=recorded, good_expr=expr, source=mem.selector)
    assert sli.threshold is not None
    th = sli.threshold
    expr = f"({th.expr}) {th.op} bool {number(th.value)}"
    return SampleSLI("threshold", series=recorded, good_expr=expr, source=th.expr)


def _covers(adj: AdjustmentSpec, slo: SLOSpec) -> bool:
    """An adjustment names the SLO or its service, or names none (all SLOs)."""
    return (
        (not adj.slos and not adj.services) or slo.name in adj.slos or slo.service in adj.services
    )


def _adjustment(adj: AdjustmentSpec) -> Adjustment:
    every = parse_duration(adj.every) if adj.every else None
    return Adjustment(adj.name, adj.reason, adj.start.astimezone(UTC), adj.length, every)


def from_spec(spec: SLOFileSpec, source: str = "slos.yaml") -> list[SLO]:
    """Turn the validated wire format into model objects; raise SpecError if one cannot alert."""
    try:
        policies = parse_policy_mapping(spec.policy, source=f"{source}: policy")
    except PolicyError as exc:
        raise SpecError(str(exc)) from None
    unknown = sorted(set(policies.per_slo) - {s.name for s in spec.slos})
    if unknown:
        raise SpecError(f"{source}: policy: slos: no SLO named {', '.join(unknown)}")
    slos = []
    for s in spec.slos:
        cadence = parse_duration(s.review.cadence)
        runbook = s.alerting.runbook_url or c.DEFAULT_RUNBOOK_URL.format(name=s.name)
        if spec.runbook_base_url and "://" not in runbook:
            runbook = f"{spec.runbook_base_url.rstrip('/')}/{runbook.lstrip('/')}"
        slos.append(
            SLO(
                name=s.name,
                service=s.service,
                description=s.description.strip(),
                owner=s.owner,
                sli=_sli_from_spec(s),
                objective=float(number(s.objective / 100)),
                period=parse_duration(s.period),
                period_str=s.period,
                review=Review(
                    cadence,
                    s.review.cadence,
                    s.review.last_review,
                    s.review.reviewers,
                    s.review.scheduled,
                ),
                labels=MappingProxyType(dict(sorted(s.labels.items()))),
                runbook_url=runbook,
                policy=policies.for_slo(s.name),
                min_events=s.alerting.min_events,
                adjustments=tuple(_adjustment(a) for a in spec.adjustments if _covers(a, s)),
            )
        )
        for policy in slos[-1].alert_policies:
            if not policy.conditions:
                raise SpecError(
                    f"{source}: slo {s.name!r}: objective: {number(s.objective)}% leaves so much "
                    f"budget that no {policy.alert} condition can fire ("
                    + "; ".join(d.reason for d in policy.dropped)
                    + ")"
                )
    return slos


def load(path: str | Path = "slos.yaml") -> list[SLO]:
    """Load and validate an SLO file; raise :class:`slolab.slo.spec.SpecError`."""
    return from_spec(load_spec(path), source=str(path))
