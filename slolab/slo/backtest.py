"""Backtest: what an SLO spec's alerts would have done over the recorded past.

The rules and alerts ``slolab slo generate`` writes for the spec are made in
process and replayed over ``[start, end]`` by :mod:`slolab.slo.replay`: the
recorded raw series of each SLO, read from the Prometheus that holds them,
evaluated by Prometheus itself at each group's real interval, ``for:``
honoured. Why range queries against a scratch Prometheus rather than
promtool's rule importer: docs/benchmarks.md (the importer is the anchor).

Beside each page and ticket episode stands the budget it spent (bad events
during it ÷ (budget x events of the period ending then), from raw series as
``slo incidents`` counts them; one budget per SLO: that of the period ending
with the window, so the episodes' shares add up). Two findings per SLO:

- *missed*: stretches of consecutive hours burning faster than 1x that
  together spent at least ``missed_share`` of the budget while no page fired;
- *noisy*: pages during which less than ``noise_share`` of the budget went.

:func:`compare` lines two specs' episodes up, SLO by SLO (overlapping episodes
of one alert side by side).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from slolab.slo import budget
from slolab.slo import conventions as c
from slolab.slo.durations import format_duration
from slolab.slo.model import SLO
from slolab.slo.query import Prometheus, PrometheusError, counts_queries
from slolab.slo.replay import Progress, ReplayError, Tools, replay
from slolab.slo.views import NO_VALUE, duration, percent

__all__ = [
    "MISSED_SHARE",
    "NOISE_SHARE",
    "Backtest",
    "BacktestError",
    "Episode",
    "SLOBacktest",
    "Stretch",
    "check_data",
    "compare",
    "rule_groups",
    "run",
    "to_html",
    "to_json",
    "to_markdown",
]

MISSED_SHARE = 0.05  # the 6h/6x page condition's budget: more than that without a page
NOISE_SHARE = 0.005  # a page during which less than this went
_HOUR = 3600.0


class BacktestError(ValueError):
    """The backtest cannot run on this input; the message names what is missing."""


@dataclass(frozen=True)
class Episode:
    slo: str
    alert: str
    severity: str
    start: float
    end: float | None  # None: still firing when the window ends
    budget_spent: float | None  # share of the period's budget; None without data

    def duration(self, until: float) -> float:
        return (self.end or until) - self.start

    @property
    def page(self) -> bool:
        return self.severity == c.SEVERITY_PAGE


@dataclass(frozen=True)
class Stretch:
    start: float
    end: float
    budget_spent: float


@dataclass
class SLOBacktest:
    slo: SLO
    episodes: list[Episode]
    missed: list[Stretch]
    noisy: list[Episode]
    spent: float | None  # budget spent over the whole window
    # (hour's end, budget spent since the window's start): the burn-down chart
    burn_down: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Backtest:
    label: str
    prometheus: str
    start: float
    end: float
    slos: list[SLOBacktest]
    took: dict[str, float]


def rule_groups(slos: Sequence[SLO]) -> list[dict[str, Any]]:
    """The rule groups ``slolab slo generate`` writes for ``slos`` (made in process)."""
    from slolab.slo.generate import GenerateOptions
    from slolab.slo.generate.rules import OUTPUT

    rendered = OUTPUT.render(list(slos), GenerateOptions())
    return [g for text in rendered.values() for g in yaml.safe_load(text)["groups"]]


def _when(t: float) -> str:
    return f"{datetime.fromtimestamp(t, UTC):%Y-%m-%d %H:%M} UTC"


def check_data(prom: Prometheus, slos: Sequence[SLO], start: float, end: float) -> None:
    """BacktestError unless every SLO has events in the window's first and last hours."""
    problems = []
    retention = _retention(prom)
    for slo in slos:
        _, total_q = counts_queries(slo, "1h")
        for at, where in ((start + _HOUR, "first"), (end, "last")):
            total = prom.value(total_q, at)
            if not total:
                hint = (
                    f" (its retention is {retention}: is the window older?)"
                    if where == "first" and retention
                    else ""
                )
                problems.append(
                    f"{slo.name}: no events in the {where} hour of the window "
                    f"(checked {total_q} at {_when(at)}){hint}"
                )
    if problems:
        raise BacktestError(
            f"Prometheus at {prom.url} lacks the SLOs' series over the window "
            f"{_when(start)} to {_when(end)}:\n  " + "\n  ".join(problems)
        )


def _retention(prom: Prometheus) -> str | None:
    try:
        flags = prom._get("/api/v1/status/flags", None, "flags")
    except PrometheusError:
        return None
    return flags.get("storage.tsdb.retention.time") if isinstance(flags, dict) else None


def _allowed(prom: Prometheus, slo: SLO, end: float) -> float | None:
    """The error budget in events: budget x the events of the period ending at ``end``."""
    _, period_q = counts_queries(slo, slo.period)
    total = prom.value(period_q, end)
    return budget.error_budget(slo.objective) * total if total else None


def _spent(
    prom: Prometheus, slo: SLO, start: float, end: float, allowed: float | None
) -> float | None:
    """Share of the budget (``allowed`` events) spent by the bad events of [start, end]."""
    seconds = max(int(end - start), 60)
    good_q, total_q = counts_queries(slo, format_duration(timedelta(seconds=seconds)))
    good, total = prom.value(good_q, end), prom.value(total_q, end)
    if good is None or total is None or not allowed:
        return None
    return max(total - min(good, total), 0.0) / allowed


def _hourly(prom: Prometheus, slo: SLO, start: float, end: float) -> list[tuple[float, float]]:
    """(hour's end, share of the period's budget the hour spent), from raw series."""
    good_q, total_q = counts_queries(slo, "1h")
    first = math.ceil((start + _HOUR) / _HOUR) * _HOUR
    step = timedelta(hours=1)

    def series(expr: str) -> dict[float, float]:
        out: dict[float, float] = {}
        for s in prom.query_range(expr, first, end, step):
            out.update((t, v) for t, v in s.points if v is not None)
        return out

    good, total = series(good_q), series(total_q)
    allowed = _allowed(prom, slo, end)
    if not allowed:
        return []
    return [(t, max(n - min(good.get(t, n), n), 0.0) / allowed) for t, n in sorted(total.items())]


def _missed(
    hourly: list[tuple[float, float]], slo: SLO, pages: list[Episode], end: float, share: float
) -> list[Stretch]:
    """Runs of hours burning faster than 1x, with no page, that spent ``share`` or more."""
    one_x = _HOUR / slo.period.total_seconds()  # what an hour at 1x spends
    out, run = [], []
    for t, spent in [*hourly, (math.inf, 0.0)]:
        paged = any(p.start < t and (p.end or end) > t - _HOUR for p in pages)
        if spent > one_x and not paged:
            run.append((t, spent))
            continue
        if run and sum(s for _, s in run) >= share:
            out.append(Stretch(run[0][0] - _HOUR, run[-1][0], sum(s for _, s in run)))
        run = []
    return out


def run(
    url: str,
    slos: Sequence[SLO],
    start: float,
    end: float,
    work: Path,
    *,
    label: str = "",
    missed_share: float = MISSED_SHARE,
    noise_share: float = NOISE_SHARE,
    progress: Progress | None = None,
    timeout: float = 300,
) -> Backtest:
    """Backtest ``slos``' page and ticket alerts over [start, end] against ``url``."""
    if end - start < _HOUR:
        raise BacktestError("the window must be at least an hour long")
    names = {p.alert for s in slos for p in s.alert_policies}
    try:
        with Prometheus(url, timeout=timeout) as prom:
            check_data(prom, slos, start, end)
            done = replay(
                rule_groups(slos), start, end, Tools.found(work), source=url,
                alerts=lambda rule: rule["alert"] in names, progress=progress, timeout=timeout,
            )  # fmt: skip
            by_slo: dict[str, list[Episode]] = {s.name: [] for s in slos}
            for state in done.alerts:
                name = state.labels.get(c.LABEL_SLO, "")
                if name not in by_slo:
                    continue
                for a, b in state.episodes():
                    ended = None if b > end else b
                    by_slo[name].append(Episode(name, state.alert,
                                                state.labels.get(c.LABEL_SEVERITY, ""), a, ended,
                                                None))  # fmt: skip
            results = []
            began = time.monotonic()
            for slo in slos:
                allowed = _allowed(prom, slo, end)
                eps = sorted(
                    (Episode(e.slo, e.alert, e.severity, e.start, e.end,
                             _spent(prom, slo, e.start, e.end or end, allowed))
                     for e in by_slo[slo.name]),
                    key=lambda e: (e.start, e.alert),
                )  # fmt: skip
                hourly = _hourly(prom, slo, start, end)
                pages = [e for e in eps if e.page]
                noisy = [e for e in pages if e.budget_spent is not None
                         and e.budget_spent < noise_share]  # fmt: skip
                burn, acc = [], 0.0
                for t, spent in hourly:
                    acc += spent
                    burn.append((t, acc))
                results.append(SLOBacktest(
                    slo, eps, _missed(hourly, slo, pages, end, missed_share), noisy,
                    _spent(prom, slo, start, end, allowed), burn,
                ))  # fmt: skip
    except PrometheusError as exc:
        raise BacktestError(str(exc)) from None
    except ReplayError as exc:
        raise BacktestError(f"the replay failed: {exc}") from None
    took = {**done.took, "budget": round(time.monotonic() - began, 1)}
    return Backtest(label, url, start, end, results, took)


# --- comparing two specs ------------------------------------------------------------------


def compare(a: Backtest, b: Backtest) -> dict[str, list[tuple[Episode | None, Episode | None]]]:
    """Per SLO name (in either), each alert's episodes paired where they overlap."""
    out: dict[str, list[tuple[Episode | None, Episode | None]]] = {}
    left = {r.slo.name: r.episodes for r in a.slos}
    right = {r.slo.name: r.episodes for r in b.slos}
    for name in dict.fromkeys([*left, *right]):
        pairs: list[tuple[Episode | None, Episode | None]] = []
        rest = list(right.get(name, []))
        for ep in left.get(name, []):
            match = next((o for o in rest if o.alert == ep.alert and _overlap(ep, o, a.end)), None)
            if match is not None:
                rest.remove(match)
            pairs.append((ep, match))
        pairs += [(None, o) for o in rest]
        pairs.sort(key=lambda p: min(e.start for e in p if e is not None))
        out[name] = pairs
    return out


def _overlap(x: Episode, y: Episode, end: float) -> bool:
    return x.start < (y.end or end) and y.start < (x.end or end)


# --- rendering -------------------------------------------------------------------------------


def _kind(e: Episode) -> str:
    return "page" if e.page else "ticket"


def _episode_cells(e: Episode | None, until: float) -> list[str]:
    if e is None:
        return [NO_VALUE] * 3
    end = _when(e.end) if e.end is not None else "(firing at the end)"
    spent = percent(e.budget_spent, 2)
    return [f"{_kind(e)} {_when(e.start)} → {end}", duration(e.duration(until)), spent]


def _intro(bt: Backtest) -> str:
    pages = sum(1 for r in bt.slos for e in r.episodes if e.page)
    tickets = sum(1 for r in bt.slos for e in r.episodes if not e.page)
    return (
        f"{bt.label or 'the spec'}: the generated page and ticket alerts replayed over "
        f"{_when(bt.start)} to {_when(bt.end)} ({duration(bt.end - bt.start)}) on the raw series "
        f"of Prometheus at {bt.prometheus}, each group at its own interval: {pages} pages, "
        f"{tickets} tickets. Budget: share of the period's error budget spent during each."
    )


def to_markdown(bt: Backtest, other: Backtest | None = None) -> str:
    """A pull-request comment (joins `slo diff`'s): episodes, missed stretches, noisy pages."""
    lines = ["## SLO backtest", "", _intro(bt)]
    if other is not None:
        lines += ["", "Compared with " + _intro(other)]
        for name, pairs in compare(bt, other).items():
            lines += ["", f"### {name}", ""]
            if not pairs:
                lines.append("No page or ticket in either.")
                continue
            lines.append(f"| {bt.label} | duration | budget | {other.label} | duration | budget |")
            lines.append("|---|---|---|---|---|---|")
            for x, y in pairs:
                cells = _episode_cells(x, bt.end) + _episode_cells(y, other.end)
                lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"
    for r in bt.slos:
        lines += ["", f"### {r.slo.name}", ""]
        lines.append(f"Objective {r.slo.objective_percent:g}% over {duration(r.slo.period)}; "
                     f"budget spent in the window: {percent(r.spent, 2)}.")  # fmt: skip
        if r.episodes:
            lines += ["", "| alert | start | end | duration | budget spent |"]
            lines.append("|---|---|---|---|---|")
            for e in r.episodes:
                end = _when(e.end) if e.end is not None else "(firing at the end)"
                lines.append(f"| {_kind(e)} | {_when(e.start)} | {end} | "
                             f"{duration(e.duration(bt.end))} | "
                             f"{percent(e.budget_spent, 2)} |")  # fmt: skip
        else:
            lines += ["", "No page or ticket."]
        for s in r.missed:
            lines.append(f"- **missed**: {_when(s.start)} to {_when(s.end)} spent "
                         f"{percent(s.budget_spent, 2)} of the budget without a page")  # fmt: skip
        for e in r.noisy:
            lines.append(f"- **noisy**: the page at {_when(e.start)} spent only "
                         f"{percent(e.budget_spent, 2)}")  # fmt: skip
    return "\n".join(lines) + "\n"


def to_json(bt: Backtest, other: Backtest | None = None) -> str:
    def one(x: Backtest) -> dict[str, Any]:
        return {
            "label": x.label, "prometheus": x.prometheus, "start": x.start, "end": x.end,
            "took_seconds": x.took,
            "slos": [{
                "slo": r.slo.name, "budget_spent": r.spent,
                "episodes": [asdict(e) for e in r.episodes],
                "missed": [asdict(s) for s in r.missed],
                "noisy": [asdict(e) for e in r.noisy],
            } for r in x.slos],
        }  # fmt: skip

    body: dict[str, Any] = {"backtest": one(bt)}
    if other is not None:
        body["compare"] = one(other)
    return json.dumps(body, indent=2) + "\n"


def to_html(bt: Backtest, other: Backtest | None = None) -> str:
    """One self-contained page: per SLO the episodes on the burn-down chart, and the table."""
    import html as h

    from slolab.slo.report.html import html_page, html_table
    from slolab.slo.report.svg import burn_down_svg

    body = ["<h1>SLO backtest</h1>", f"<p>{h.escape(_intro(bt))}</p>"]
    others = {r.slo.name: r for r in other.slos} if other is not None else {}
    if other is not None:
        body.append(f"<p>Compared with {h.escape(_intro(other))}</p>")
    start, end = (datetime.fromtimestamp(t, UTC) for t in (bt.start, bt.end))
    for r in bt.slos:
        body.append(f"<h2>{h.escape(r.slo.name)}</h2>")
        runs = [r, *([others[r.slo.name]] if r.slo.name in others else [])]
        for n, x in enumerate(runs):
            label = bt.label if n == 0 else (other.label if other else "")
            points = [(datetime.fromtimestamp(t, UTC), 1 - v) for t, v in x.burn_down]
            bands = [
                (
                    datetime.fromtimestamp(e.start, UTC),
                    datetime.fromtimestamp(e.end or bt.end, UTC),
                    e.page,
                )
                for e in x.episodes
            ]
            body.append(burn_down_svg(f"{label}: budget left (pages red, tickets amber)",
                                      points, start, end, bands))  # fmt: skip
            rows = [
                [
                    _kind(e),
                    _when(e.start),
                    _when(e.end) if e.end else "(firing)",
                    duration(e.duration(bt.end)),
                    percent(e.budget_spent, 2),
                ]
                for e in x.episodes
            ]
            if rows:
                body.append(html_table(["alert", "start", "end", "duration", "budget spent"],
                                       rows))  # fmt: skip
            for s in x.missed:
                body.append(f"<p>Missed: {_when(s.start)} to {_when(s.end)} spent "
                            f"{percent(s.budget_spent, 2)} without a page.</p>")  # fmt: skip
    return html_page("SLO backtest", body)
