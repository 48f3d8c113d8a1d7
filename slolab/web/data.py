"""What the browser dashboard shows, read from any Prometheus through the toolkit.

Everything here works from the SLO model and the recorded-series conventions
(:mod:`slolab.slo.status`, :mod:`slolab.slo.query`), so the page shows any
user's ``slos.yaml``. The two demo-specific views are queries given by the
caller: which series say a fault is on, and nothing else — slow requests come
from the exemplars of any latency SLO's histogram.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slolab.slo import conventions as c
from slolab.slo import promql
from slolab.slo.durations import format_duration
from slolab.slo.model import SLO, LatencySLI
from slolab.slo.query import Prometheus, sli_query
from slolab.slo.status import SHOWN_WINDOWS, SLOStatus, collect
from slolab.slo.views import json_number, status_record
from slolab.web.traces import trace_link

__all__ = [
    "DashboardSettings",
    "adjustment_windows",
    "adjustments",
    "alert_timeline",
    "charts",
    "iso",
    "slow_requests",
    "state",
]

CHART_POINTS = 240  # points per chart: enough for a smooth line, cheap to query
MIN_STEP = 15.0  # seconds; below the rules' evaluation interval a step adds nothing
MIN_SLI_WINDOW = 60.0  # seconds: several scrapes, or rate() has nothing to work with


@dataclass(frozen=True)
class DashboardSettings:
    """What the page needs beyond the SLO file."""

    faults_query: str | None = None  # series with value 1 while a fault is on
    jaeger_url: str | None = None  # trace links: {jaeger_url}/trace/{trace_id}
    trace_view: bool = False  # trace links open the dashboard's own view (a trace store)
    alert_history: timedelta = timedelta(hours=6)  # the timeline's span
    slow_request_window: timedelta = timedelta(minutes=15)
    slow_request_limit: int = 10
    refresh_seconds: float = 5.0
    adjustments_ahead: timedelta = timedelta(days=7)  # upcoming budget adjustments listed


def iso(ts: float | None) -> str | None:
    """Unix time as ISO 8601 in UTC, to the second."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def alert_timeline(
    prom: Prometheus, history: timedelta, now: float | None = None
) -> list[dict[str, Any]]:
    """Firing spans of every alert over ``history``, from Prometheus' own ALERTS series.

    A span whose last point is the newest step is still firing (``end`` None).
    """
    now = time.time() if now is None else now
    start = now - history.total_seconds()
    step = max(MIN_STEP, history.total_seconds() / 720)
    spans = []
    firing = prom.query_range(promql.firing_alerts(), start, now, timedelta(seconds=step))
    for series in firing:
        labels = dict(series.labels)
        times = [t for t, v in series.points if v is not None]
        if not times:
            continue
        begin = prev = times[0]
        for t in [*times[1:], None]:
            if t is not None and t - prev <= step * 1.5:
                prev = t
                continue
            still = prev >= now - step * 1.5
            spans.append(
                {
                    "alert": labels.get("alertname", "?"),
                    "slo": labels.get(c.LABEL_SLO),
                    "service": labels.get(c.LABEL_SERVICE),
                    "severity": labels.get(c.LABEL_SEVERITY),
                    "start": iso(begin),
                    "end": None if still else iso(prev),
                }
            )
            if t is not None:
                begin = prev = t
    spans.sort(key=lambda s: s["start"] or "", reverse=True)
    return spans


def _faults(prom: Prometheus, query: str | None) -> list[dict[str, str]]:
    if not query:
        return []
    return [
        {k: v for k, v in s.labels.items() if k != "__name__"} for s in prom.query(query) if s.value
    ]


def slow_requests(
    prom: Prometheus,
    slos: Sequence[SLO],
    settings: DashboardSettings,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """Exemplars slower than a latency SLO's threshold, slowest first, with trace links."""
    now = time.time() if now is None else now
    start = now - settings.slow_request_window.total_seconds()
    found: dict[str, dict[str, Any]] = {}
    for slo in slos:
        sli = slo.sli
        if not isinstance(sli, LatencySLI):
            continue
        matchers = f"{{{sli.matchers}}}" if sli.matchers else ""
        for ex in prom.exemplars(f"{sli.histogram}_bucket{matchers}", start, now):
            trace = ex.labels.get("trace_id") or ex.labels.get("traceID")
            if not trace or ex.value <= sli.threshold_seconds:
                continue
            link = trace_link(trace, jaeger_url=settings.jaeger_url, store=settings.trace_view)
            found[trace] = {
                "slo": slo.name,
                "trace_id": trace,
                "seconds": ex.value,
                "at": iso(ex.timestamp),
                "endpoint": ex.series.get("handler") or ex.series.get("path"),
                "link": link,
            }
    rows = sorted(found.values(), key=lambda r: r["seconds"], reverse=True)
    return rows[: settings.slow_request_limit]


def _record(s: SLOStatus) -> dict[str, Any]:
    """A table row; an SLO with several periods also lists its further ones (a row each)."""
    record = status_record(s)
    if s.periods:
        record["periods"] = [{**status_record(p), "window": p.window} for p in s.periods]
    return record


def adjustment_windows(slo: SLO, start: float, end: float) -> list[dict[str, Any]]:
    """Each window of ``slo``'s budget adjustments overlapping ``[start, end)`` (Unix time).

    From the SLO file, not from ``slo:adjustment_active:bool``: the file has each
    window's reason and exact bounds, and the ones to come; the 0/1 series, sampled
    at a period chart's step (hours), would miss a one-hour window.
    """
    since, until = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
    return [
        {"name": adj.name, "reason": adj.reason, "start": a.timestamp(), "end": b.timestamp()}
        for adj in slo.adjustments
        for a, b in adj.windows(since, until)
    ]


def adjustments(slos: Sequence[SLO], now: float, ahead: timedelta) -> list[dict[str, Any]]:
    """Budget adjustments running now or starting within ``ahead``: their SLOs and windows."""
    found: dict[str, dict[str, Any]] = {}
    for slo in slos:
        for adj in slo.adjustments:
            entry = found.setdefault(adj.name, {
                "name": adj.name, "reason": adj.reason, "slos": [],
                "every_seconds": adj.every.total_seconds() if adj.every else None,
                "windows": [
                    {"start": iso(a.timestamp()), "end": iso(b.timestamp()),
                     "active": a.timestamp() <= now < b.timestamp()}
                    for a, b in adj.windows(datetime.fromtimestamp(now, UTC),
                                            datetime.fromtimestamp(now, UTC) + ahead)[:5]
                ],
            })  # fmt: skip
            entry["slos"].append(slo.name)
    return [a for a in found.values() if a["windows"]]


def state(prom: Prometheus, slos: Sequence[SLO], settings: DashboardSettings) -> dict[str, Any]:
    """Everything the page's table, alert timeline, faults and slow requests need."""
    now = time.time()
    statuses = collect(prom, slos)
    timeline = alert_timeline(prom, settings.alert_history, now)
    planned = adjustments(slos, now, settings.adjustments_ahead)
    return {
        "generated_at": iso(now),
        "prometheus": prom.url,
        "refresh_seconds": settings.refresh_seconds,
        "windows": list(SHOWN_WINDOWS),
        "slos": [_record(s) for s in statuses],
        "alerts": {
            "firing": [a for a in timeline if a["end"] is None],
            "timeline": timeline,
            "history_seconds": settings.alert_history.total_seconds(),
        },
        "faults": _faults(prom, settings.faults_query),
        "slow_requests": slow_requests(prom, slos, settings, now),
        # Only with some: a file without adjustments is served as it was.
        **({"adjustments": planned} if planned else {}),
    }


def _range(
    prom: Prometheus, expr: str, start: float, end: float, step: float
) -> list[tuple[float, float | None]]:
    series = prom.query_range(expr, start, end, timedelta(seconds=step))
    return list(series[0].points) if series else []


def _first_data(points: list[tuple[float, float | None]]) -> float | None:
    return next((t for t, v in points if v is not None), None)


def charts(prom: Prometheus, slo: SLO, now: float | None = None) -> dict[str, Any]:
    """Budget burn-down over the period and the short-window SLI, zoomed to the data.

    Over a period with less history than the period itself the x axis starts
    where the data starts, so a fresh lab shows a line, not a dot.
    """
    now = time.time() if now is None else now
    period = slo.period.total_seconds()
    step = max(MIN_STEP, period / CHART_POINTS)
    # last_over_time: recorded series sampled sparser than the step (backfilled
    # history) still give one point per step.
    budget_expr = promql.last_recorded(slo, c.RULE_BUDGET_REMAINING, f"{int(step)}s")
    budget = _range(prom, budget_expr, now - period, now, step)
    start = _first_data(budget)
    if start is not None and now - start < period / 4:
        step = max(MIN_STEP, (now - start) / CHART_POINTS)
        budget_expr = promql.last_recorded(slo, c.RULE_BUDGET_REMAINING, f"{int(step)}s")
        start = max(start - step, now - period)
        budget = _range(prom, budget_expr, start, now, step)
    begin = now - period if start is None else max(start, now - period)
    # The SLI over each step from raw series (the toolkit's query layer): backfilled history
    # sampled every few minutes has no value for a 1-minute recorded window.
    window = format_duration(int(max(2 * step, MIN_SLI_WINDOW)))  # two steps: overlap, no gaps
    # avg: a per-target SLI (freshness from a gauge) comes back as one series per target.
    sli = _range(prom, f"avg(clamp({sli_query(slo, window)}, 0, 1))", begin, now, step)
    return {
        "slo": slo.name,
        "objective": slo.objective,
        "window": window,
        "start": begin,
        "end": now,
        "budget": [[t, json_number(v)] for t, v in budget if t >= begin],
        "sli": [[t, json_number(v)] for t, v in sli],
        # Shaded on both charts; the key only for an SLO with adjustments.
        **({"adjustments": adjustment_windows(slo, begin, now)} if slo.adjustments else {}),
    }
