"""Incidents from the alert history: every page and ticket episode over a window.

Prometheus keeps what its alerts did in the ``ALERTS`` series: one sample
(value 1) per rule evaluation while an alert is pending or firing. One
instant query of ``ALERTS{alertstate="firing"}[window]`` returns those raw
samples; a gap longer than ``GAP_FACTOR`` evaluations ends an episode.
Episodes of one service that overlap (or follow within ``MERGE_GAP``) are
one incident: start, end, duration, the SLOs hit, and per SLO the share of
its period's error budget the incident consumed (bad events during it ÷
(budget x all events of the period ending then), from raw series like the
report). :mod:`slolab.slo.report.incidents` renders them (a list, and a
ticket/postmortem skeleton each, with the runbook links and the timeline).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from slolab.slo import budget, promql
from slolab.slo import conventions as c
from slolab.slo.durations import format_duration, parse_duration
from slolab.slo.model import SLO
from slolab.slo.query import Prometheus, counts_queries

__all__ = [
    "AlertEpisode",
    "Incident",
    "SLOImpact",
    "episodes",
    "find",
]

GAP_FACTOR = 3  # evaluations without a sample that end an episode
MERGE_GAP = timedelta(minutes=5)  # episodes of a service this close are one incident
_SEVERITY_RANK = {c.SEVERITY_PAGE: 0, c.SEVERITY_TICKET: 1}


@dataclass(frozen=True)
class AlertEpisode:
    """One alert firing for one SLO, from its first firing evaluation until it resolved."""

    alert: str
    slo: str
    service: str
    severity: str
    start: datetime
    end: datetime | None  # None: still firing at the end of the window

    def until(self, now: datetime) -> datetime:
        return self.end or now


@dataclass(frozen=True)
class SLOImpact:
    slo: SLO
    budget_consumed: float | None  # share of the period's budget; None without data
    bad: float
    total: float


@dataclass(frozen=True)
class Incident:
    service: str
    start: datetime
    end: datetime | None  # None: ongoing
    episodes: tuple[AlertEpisode, ...]
    impacts: tuple[SLOImpact, ...]
    as_of: datetime

    @property
    def duration(self) -> timedelta:
        return (self.end or self.as_of) - self.start

    @property
    def severity(self) -> str:
        return min((e.severity for e in self.episodes), key=lambda s: _SEVERITY_RANK.get(s, 9))

    @property
    def slos(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.slo for e in self.episodes))

    @property
    def id(self) -> str:
        return f"{self.start:%Y%m%d-%H%M}-{self.service}"


def _alert_names(slos: Sequence[SLO]) -> list[str]:
    return sorted({p.alert for s in slos for p in s.alert_policies})


def episodes(
    prom: Prometheus, slos: Sequence[SLO], start: datetime, end: datetime
) -> list[AlertEpisode]:
    """The firing episodes of ``slos``' burn-rate alerts between ``start`` and ``end``."""
    names = "|".join(re.escape(n) for n in _alert_names(slos))
    wanted = {s.name for s in slos}
    window = format_duration(max(end - start, timedelta(seconds=1)))
    expr = promql.firing_alerts(f'alertname=~"{names}"', window=window)
    interval = parse_duration(c.FAST_INTERVAL).total_seconds()
    out = []
    for series in prom.samples(expr, end):
        labels = series.labels
        slo = labels.get(c.LABEL_SLO, "")
        if slo not in wanted:
            continue
        times = [t for t, v in series.points if v is not None]
        if not times:
            continue
        runs, first, last = [], times[0], times[0]
        for t in times[1:]:
            if t - last > GAP_FACTOR * interval:
                runs.append((first, last))
                first = t
            last = t
        runs.append((first, last))
        for a, b in runs:
            # Resolved at the next evaluation, unless the window ends first.
            resolved = b + interval
            ended = None if resolved >= end.timestamp() else datetime.fromtimestamp(resolved, UTC)
            out.append(
                AlertEpisode(
                    labels.get("alertname", "?"), slo, labels.get(c.LABEL_SERVICE, ""),
                    labels.get(c.LABEL_SEVERITY, ""), datetime.fromtimestamp(a, UTC), ended,
                )
            )  # fmt: skip
    return sorted(out, key=lambda e: (e.start, e.slo, e.alert))


def _impact(prom: Prometheus, slo: SLO, start: datetime, end: datetime) -> SLOImpact:
    seconds = max(int((end - start).total_seconds()), 60)
    good_q, total_q = counts_queries(slo, format_duration(seconds))
    good, total = prom.value(good_q, end), prom.value(total_q, end)
    _, period_q = counts_queries(slo, slo.period)
    period_total = prom.value(period_q, end)
    if good is None or total is None or not period_total:
        return SLOImpact(slo, None, 0.0, total or 0.0)
    bad = max(total - min(good, total), 0.0)
    consumed = bad / (budget.error_budget(slo.objective) * period_total)
    return SLOImpact(slo, consumed, bad, total)


def find(
    prom: Prometheus,
    slos: Sequence[SLO],
    start: datetime,
    end: datetime,
) -> list[Incident]:
    """Incidents (overlapping episodes per service) between ``start`` and ``end``."""
    by_name = {s.name: s for s in slos}
    eps = episodes(prom, slos, start, end)
    groups: dict[str, list[list[AlertEpisode]]] = {}
    for ep in eps:
        runs = groups.setdefault(ep.service, [])
        if runs and ep.start <= max(e.until(end) for e in runs[-1]) + MERGE_GAP:
            runs[-1].append(ep)
        else:
            runs.append([ep])
    incidents = []
    for service, runs in groups.items():
        for run in runs:
            first = min(e.start for e in run)
            last = None if any(e.end is None for e in run) else max(e.until(end) for e in run)
            hit = list(dict.fromkeys(e.slo for e in run))
            impacts = tuple(_impact(prom, by_name[n], first, last or end) for n in hit)
            incidents.append(Incident(service, first, last, tuple(run), impacts, end))
    return sorted(incidents, key=lambda i: (i.start, i.service))
