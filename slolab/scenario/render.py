"""A game day's scorecard as a terminal table, Markdown, HTML (with its charts) and JSON.

One view for ``predict`` and ``run``: the scenario, the scorecard, the firings
(predicted or observed) and the budget spent over time per SLO. The HTML page
uses the SLO report's page and table (slolab.slo.report.html) and its colours.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from slolab.scenario.spec import Scenario
from slolab.slo.report.html import html_page, html_table
from slolab.slo.report.svg import SERIES_COLOURS
from slolab.slo.scorecard import AlertExpectation, Firing, Scorecard
from slolab.slo.views import duration, percent

__all__ = ["CardView", "state", "to_html", "to_json", "to_markdown", "to_terminal"]

Curve = Sequence[tuple[timedelta, float]]  # (time from the start, budget spent 0..1)


@dataclass(frozen=True)
class CardView:
    """What one scorecard page shows; ``mode``: "predicted" or "observed"."""

    scenario: Scenario
    card: Scorecard
    mode: str
    firings: Sequence[Firing]
    burn: Mapping[str, Curve] = field(default_factory=dict)
    notes: Sequence[str] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)  # JSON only: urls, times


def _verdict(passed: bool | None) -> str:
    return {True: "pass", False: "FAIL", None: "open"}[passed]


def _head(view: CardView) -> list[str]:
    if view.mode == "predicted":
        return ["expectation", "result", "predicted", "Workbook", "why"]
    return ["expectation", "result", "observed", "predicted", "Workbook", "why"]


def _rows(view: CardView) -> list[list[str]]:
    rows = []
    for c in view.card.checks:
        cells = [c.name, _verdict(c.passed), c.observed]
        if view.mode != "predicted":
            cells.append(c.predicted)
        rows.append([*cells, c.formula, c.detail])
    return rows


def _overall(view: CardView) -> str:
    passed = view.card.passed
    word = {True: "PASSED", False: "FAILED", None: "RUNNING"}[passed]
    return f"{view.scenario.name}: {word} ({view.mode})"


def _unexpected(view: CardView) -> list[str]:
    return [
        f"{f.alert} ({f.severity}) for {f.slo} after {duration(f.first)}"
        for f in view.card.unexpected
    ]


def _budget_rows(view: CardView) -> list[list[str]]:
    names = [
        n
        for n in view.card.budget_spent
        if view.card.budget_spent[n] > 0 or n in view.scenario.slos
    ]
    out = []
    for n in names:
        row = [n, percent(view.card.budget_spent[n], 2)]
        if view.mode != "predicted":
            pred = view.card.predicted_spent.get(n)
            row.append(percent(pred, 2))
        out.append(row)
    return out


def _budget_head(view: CardView) -> list[str]:
    return ["SLO", "budget spent"] + ([] if view.mode == "predicted" else ["predicted"])


def to_terminal(view: CardView) -> str:
    """Plain text for a terminal (rich renders it; plain when piped)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=140, record=True, file=io.StringIO())
    console.print(f"[bold]{html.escape(_overall(view))}[/]", highlight=False)
    console.print(view.scenario.lesson, highlight=False)
    table = Table(*_head(view))
    for row in _rows(view):
        table.add_row(*row)
    console.print(table)
    budget = Table(*_budget_head(view), title="budget spent (share of the period's budget)")
    for row in _budget_rows(view):
        budget.add_row(*row)
    console.print(budget)
    for line in _unexpected(view):
        console.print(f"not expected: {line}", highlight=False)
    for note in view.notes:
        console.print(f"note: {note}", highlight=False)
    return console.export_text()


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return lines + ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]


def to_markdown(view: CardView) -> str:
    lines = [
        f"# Game day {view.scenario.name}: {view.mode}",
        "",
        view.scenario.lesson,
        "",
        f"**{_overall(view)}**",
        "",
    ]
    lines += _md_table(_head(view), _rows(view))
    lines += ["", "## Budget spent", "", *_md_table(_budget_head(view), _budget_rows(view))]
    if view.card.unexpected:
        lines += ["", "## Alerts nobody expected", ""] + [f"- {u}" for u in _unexpected(view)]
    if view.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in view.notes]
    return "\n".join(lines) + "\n"


def state(view: CardView, elapsed: timedelta | None = None, running: bool = False) -> dict:
    """The scorecard as plain data: the JSON format, and the dashboard's live view."""
    card, sc = view.card, view.scenario
    return {
        "scenario": sc.name,
        "lesson": sc.lesson,
        "mode": view.mode,
        "running": running,
        "duration_s": sc.duration.total_seconds(),
        "elapsed_s": None if elapsed is None else elapsed.total_seconds(),
        "passed": card.passed,
        "failures": card.failures,
        "faults": [
            {"label": f.describe(), "start_s": f.start.total_seconds(),
             "end_s": f.end.total_seconds()}
            for f in sc.faults
        ],
        "expectations": [
            {"label": e.describe(), "fire": e.fire, "alert": e.alert, "slo": e.slo,
             "deadline_s": None if not e.fire or e.within is None
             else (e.origin + e.within).total_seconds()}
            for e in sc.alerts
        ],
        "checks": [
            {"expectation": c.name, "passed": c.passed, "observed": c.observed,
             "predicted": c.predicted, "workbook": c.formula, "detail": c.detail}
            for c in card.checks
        ],
        "firings": [
            {"alert": f.alert, "slo": f.slo, "severity": f.severity,
             "first_s": f.first.total_seconds(), "starts": f.starts,
             "last_s": None if f.last is None else f.last.total_seconds()}
            for f in view.firings
        ],
        "unexpected": _unexpected(view),
        "budget_spent": dict(card.budget_spent),
        "predicted_budget_spent": dict(card.predicted_spent),
        "notes": list(view.notes),
        # Only when there are some: the files of scenarios without stay as they were.
        **({"adjustments": [
            {"label": a.reason, "slos": list(a.slos), "start_s": a.start.total_seconds(),
             "end_s": a.end.total_seconds()}
            for a in sc.adjustments
        ]} if sc.adjustments else {}),
        **view.extra,
    }  # fmt: skip


def to_json(view: CardView) -> str:
    return json.dumps(state(view), indent=2) + "\n"


# --- charts -----------------------------------------------------------------------------


def _bar(x0: float, x1: float, style: str) -> str:
    """A bar of one timeline row ("{y}" is filled in with the row's top)."""
    return f'<rect x="{x0:.1f}" y="{{y}}" width="{max(x1 - x0, 3):.1f}" height="14" {style}/>'


def timeline_svg(view: CardView) -> str:
    """Fault bands, expected-alert marks (deadline diamonds) and firing bars on one time axis."""
    sc = view.scenario
    span = max(sc.duration.total_seconds(), 1.0)
    rows: list[tuple[str, list[str]]] = []
    w, left, right, row_h = 900, 250, 20, 22

    def x(t: timedelta) -> float:
        return left + (w - left - right) * min(max(t.total_seconds() / span, 0), 1)

    bands: dict[str, list[str]] = {}  # one row per fault setting, a band each time it is on
    for f in sc.faults:
        bands.setdefault(f"fault: {f.describe()}", []).append(
            _bar(x(f.start), x(f.end), 'fill="#cf222e" opacity="0.35"')
        )
    rows += list(bands.items())
    for a in sc.adjustments:  # planned work: the covered SLOs neither page nor spend
        rows.append(
            (
                f"adjustment: {a.reason}",
                [_bar(x(a.start), x(a.end), 'fill="#8c959f" opacity="0.35"')],
            )
        )
    for i, exp in enumerate(sc.alerts):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        marks = []
        got = next((f for f in view.firings if (f.alert, f.slo) == exp.key), None)
        if got is not None:
            end = got.last if got.last is not None else sc.duration
            marks.append(
                f'<rect x="{x(got.first):.1f}" y="{{y}}" '
                f'width="{max(x(end) - x(got.first), 3):.1f}" height="14" '
                f'fill="{colour}"/>'
            )
        if exp.fire and exp.within is not None:
            dx = x(exp.origin + exp.within)
            marks.append(
                f'<path d="M{dx:.1f},{{y}} l5,7 l-5,7 l-5,-7 z" fill="none" '
                f'stroke="#222" stroke-width="1.5"><title>deadline</title></path>'
            )
        label = f"{'fires' if exp.fire else 'silent'}: {_short(exp)}"
        if got is not None and got.starts > 1:
            label += f" ({got.starts} times)"
        rows.append((label, marks))
    named = {e.key for e in sc.alerts}
    others = [f for f in view.firings if (f.alert, f.slo) not in named]
    for f in others:
        end = f.last if f.last is not None else sc.duration
        rows.append(
            (
                f"not expected: {f.alert[3:]} {f.slo}",
                [_bar(x(f.first), x(end), 'fill="#777"')],
            )
        )
    h = 40 + row_h * len(rows) + 20
    title = f"{sc.name}: timeline ({view.mode})"
    parts = [
        f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="10" y="18" font-size="13" font-weight="bold">{html.escape(title)}</text>',
    ]
    for k, (label, marks) in enumerate(rows):
        y = 34 + row_h * k
        parts.append(
            f'<text x="{left - 8}" y="{y + 11}" font-size="10" text-anchor="end">'
            f"{html.escape(label)}</text>"
        )
        parts.append(
            f'<line x1="{left}" x2="{w - right}" y1="{y + 7}" y2="{y + 7}" stroke="#ddd"/>'
        )
        parts += [m.replace("{y}", str(y)) for m in marks]
    for frac in (0, 0.25, 0.5, 0.75, 1):
        t = timedelta(seconds=span * frac)
        parts.append(
            f'<text x="{x(t):.1f}" y="{h - 6}" font-size="10" text-anchor="middle">'
            f"{html.escape(duration(t))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _short(exp: AlertExpectation) -> str:
    alert = exp.alert.removeprefix("SLO").removeprefix("ErrorBudget")
    return f"{alert} {exp.slo}"


def burn_svg(view: CardView) -> str:
    """Budget spent over the run, one line per SLO that spends any."""
    curves = {k: v for k, v in view.burn.items() if v and max(p for _, p in v) > 0}
    if not curves:
        return ""
    w, h, left, right, top, bottom = 900, 240, 60, 200, 28, 28
    span = max(view.scenario.duration.total_seconds(), 1.0)
    hi = max(p for v in curves.values() for _, p in v) * 1.1

    def x(t: timedelta) -> float:
        return left + (w - left - right) * t.total_seconds() / span

    def y(v: float) -> float:
        return top + (h - top - bottom) * (1 - v / hi)

    title = f"error budget spent ({view.mode})"
    parts = [
        f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="18" font-size="13" font-weight="bold">{title}</text>',
        f'<text x="{left - 6}" y="{y(hi / 1.1) + 4:.1f}" font-size="10" '
        f'text-anchor="end">{percent(hi / 1.1, 2)}</text>',
        f'<text x="{left - 6}" y="{y(0) + 4:.1f}" font-size="10" text-anchor="end">0%</text>',
    ]
    for i, (name, points) in enumerate(sorted(curves.items())):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}"/>'
        )
        parts.append(
            f'<text x="{w - right + 8}" y="{top + 14 * i + 10}" font-size="10" '
            f'fill="{colour}">{html.escape(name)}</text>'
        )
    parts.append(
        f'<text x="{w - right}" y="{h - 8}" font-size="10" text-anchor="end">'
        f"{html.escape(duration(view.scenario.duration))}</text></svg>"
    )
    return "".join(parts)


def to_html(view: CardView) -> str:
    esc = html.escape
    cls = {True: "met", False: "missed", None: "nodata"}[view.card.passed]
    body = [
        f"<h1>Game day {esc(view.scenario.name)}</h1>",
        f"<p>{esc(view.scenario.lesson)}</p>",
        f'<p class="{cls}">{esc(_overall(view))}</p>',
        html_table(_head(view), _rows(view)),
        f'<div class="charts">{timeline_svg(view)}{burn_svg(view)}</div>',
        "<h2>Budget spent</h2>",
        html_table(_budget_head(view), _budget_rows(view)),
    ]
    if view.card.unexpected:
        body += ["<h2>Alerts nobody expected</h2>", "<ul>"]
        body += [f"<li>{esc(u)}</li>" for u in _unexpected(view)] + ["</ul>"]
    if view.notes:
        body += ["<h2>Notes</h2>", "<ul>"] + [f"<li>{esc(n)}</li>" for n in view.notes] + ["</ul>"]
    return html_page(f"Game day {view.scenario.name}", body)
