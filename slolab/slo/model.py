"""The SLO model the generators, the toolkit and the dashboards work from.

Plain typed data built from the validated wire format (:mod:`slolab.slo.spec`):
SLIs, objectives, periods, alert windows and policies. No PromQL (that is
:mod:`slolab.slo.promql`) and no I/O beyond reading the file in :func:`load`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from slolab.slo import conventions as c
from slolab.slo.durations import parse_duration
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
    "SLIKind",
    "SampleSLI",
    "Severity",
    "from_spec",
    "load",
    "number",
    "scale_window",
]


def number(value: float) -> str:
    """Format a float for PromQL and YAML without binary noise (1 - 0.999 -> 0.001)."""
    return f"{value:.12g}"


class SLIKind(StrEnum):
    """What an SLI counts: the key of its ``sli:`` block in slos.yaml."""

    RATIO = "ratio"
    LATENCY = "latency"
    PROBE = "probe"
    FRESHNESS = "freshness"
    THRESHOLD = "threshold"
    CPU = "cpu"
    MEMORY = "memory"


@dataclass(frozen=True)
class RatioSLI:
    """Events from counters: ``errors`` (or ``good``) over ``total``."""

    total: str
    errors: str | None = None
    good: str | None = None
    kind: SLIKind = field(default=SLIKind.RATIO, init=False)


@dataclass(frozen=True)
class LatencySLI:
    """Requests at or under ``threshold_seconds``, from a histogram's cumulative buckets."""

    histogram: str
    matchers: str
    threshold_seconds: float
    buckets: tuple[float, ...] | None  # None: not listed in the spec, threshold unchecked
    kind: SLIKind = field(default=SLIKind.LATENCY, init=False)


@dataclass(frozen=True)
class SampleSLI:
    """Good samples over all samples of a 0/1 series, time-weighted.

    ``probe``: the series is scraped as 0/1 (blackbox ``probe_success``).
    The gauge kinds (freshness, threshold, cpu, memory) are good while
    ``source op limit`` holds (freshness: the timestamp's age; cpu: its rate
    over ``rate_window``; memory: the sum); the generator records that
    condition as 0/1 every evaluation and the windows read it.
    """

    kind: SLIKind
    source: str  # the selector/expression the user wrote
    op: str = "<"
    limit: float = 0.0
    rate_window: timedelta | None = None  # cpu only


SLI = RatioSLI | LatencySLI | SampleSLI


@dataclass(frozen=True)
class Review:
    cadence: timedelta
    last_review: date
    reviewers: tuple[str, ...] = ()
    scheduled: date | None = None  # agreed date; else last_review + cadence

    @property
    def next_review(self) -> date:
        return self.scheduled or self.last_review + self.cadence

    def due(self, today: date) -> bool:
        return today >= self.next_review


# ``long`` and ``short`` window error ratios both above ``factor`` times the budget.
BurnCondition = c.WindowPair[timedelta]


@dataclass(frozen=True)
class DroppedCondition(BurnCondition):
    """A condition left out of the alerts (its windows do not fit the period), and why."""

    reason: str


class Severity(StrEnum):
    """How a burn-rate alert reaches people: its ``severity`` label."""

    PAGE = c.SEVERITY_PAGE
    TICKET = c.SEVERITY_TICKET


@dataclass(frozen=True)
class AlertPolicy:
    alert: str
    severity: Severity
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


@dataclass(frozen=True)
class SLO:
    name: str
    service: str
    description: str
    owner: str
    sli: SLI
    objective: float  # fraction, e.g. 0.999
    period: timedelta
    review: Review
    labels: Mapping[str, str]
    runbook_url: str
    policy: Policy = DEFAULT_POLICY
    # Burn conditions need this many events in their long window (None: no minimum).
    min_events: int | None = None
    adjustments: tuple[Adjustment, ...] = ()
    # Further rolling windows (slos.yaml `periods:` after the first): each has its own
    # period figures and budget alerts; the burn-rate alerts follow ``period`` alone.
    extra_periods: tuple[timedelta, ...] = ()

    @property
    def periods(self) -> tuple[timedelta, ...]:
        """Every window of the SLO, the one that drives the burn-rate alerts first."""
        return (self.period, *self.extra_periods)

    def over(self, period: timedelta) -> SLO:
        """This SLO shown over one of its further periods (a status row, a report line).

        That period as its own and no further one: for showing figures. Its
        recorded series stay this SLO's: ``promql.window_matchers(self, period)``.
        """
        return replace(self, period=period, extra_periods=())

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

    # --- alert windows -----------------------------------------------------------
    def scaled(self, base: timedelta) -> timedelta:
        """A window stated for 30 days, scaled to this SLO's period."""
        return scale_window(base, self.period)

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
            severity = Severity(policy.severity)
            policies.append(AlertPolicy(policy.alert, severity, tuple(kept), tuple(dropped)))
        return tuple(policies)

    @property
    def windows(self) -> tuple[timedelta, ...]:
        """Every alert window, shortest first (scaled windows may coincide: listed once)."""
        bases = {w for p in c.BURN_POLICIES for pair in p.pairs for w in (pair.long, pair.short)}
        return tuple(sorted({scale_window(b, self.period) for b in bases}))

    @property
    def short_window(self) -> timedelta:
        """The window of ``slo:current_burn_rate:ratio`` (5m for a 30-day period)."""
        return self.windows[0]

    def from_aggregates(self, window: timedelta) -> bool:
        """Day-long windows (the ticket's long ones) are read from the aggregates, not raw."""
        return window >= scale_window(c.SLOW_WINDOW_FROM, self.period)

    @property
    def recorded_windows(self) -> tuple[timedelta, ...]:
        """Windows recorded from raw series as ``slo:sli_error:ratio_rate<window>``."""
        return tuple(w for w in self.windows if not self.from_aggregates(w))


def _sli_from_spec(slo: SLOSpec) -> SLI:
    sli = slo.sli
    if sli.ratio is not None:
        return RatioSLI(total=sli.ratio.total, errors=sli.ratio.errors, good=sli.ratio.good)
    if sli.latency is not None:
        lat = sli.latency
        buckets = tuple(lat.buckets) if lat.buckets else None
        return LatencySLI(lat.histogram, lat.selector, lat.threshold_seconds, buckets)
    if sli.probe is not None:
        return SampleSLI(SLIKind.PROBE, sli.probe.selector)
    if sli.freshness is not None:
        fr = sli.freshness
        return SampleSLI(SLIKind.FRESHNESS, fr.timestamp, limit=fr.max_age_seconds)
    if sli.cpu is not None:
        cpu = sli.cpu
        window = parse_duration(cpu.rate_window)
        return SampleSLI(SLIKind.CPU, cpu.selector, limit=cpu.max_cores, rate_window=window)
    if sli.memory is not None:
        return SampleSLI(SLIKind.MEMORY, sli.memory.selector, limit=sli.memory.max_bytes)
    assert sli.threshold is not None
    th = sli.threshold
    return SampleSLI(SLIKind.THRESHOLD, th.expr, op=th.op, limit=th.value)


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
                period=parse_duration(s.all_periods[0]),
                review=Review(
                    cadence,
                    s.review.last_review,
                    s.review.reviewers,
                    s.review.scheduled,
                ),
                labels=MappingProxyType(dict(sorted(s.labels.items()))),
                runbook_url=runbook,
                policy=policies.for_slo(s.name),
                min_events=s.alerting.min_events,
                adjustments=tuple(_adjustment(a) for a in spec.adjustments if _covers(a, s)),
                extra_periods=tuple(parse_duration(p) for p in s.all_periods[1:]),
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
