"""A simulation (``slolab slo simulate``) as markdown or one HTML page with its chart.

The table's cells are :mod:`slolab.slo.views`' figures; the page, the table and
the chart are the reports' (:mod:`.markdown`, :mod:`.html`, :mod:`.svg`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import timedelta

from slolab.slo import conventions as c
from slolab.slo.model import number
from slolab.slo.report.html import html_page, html_table
from slolab.slo.report.markdown import markdown_table
from slolab.slo.report.svg import DetectionLine, detection_chart
from slolab.slo.simulate import AlertTiming, Simulation
from slolab.slo.views import burn_rate, duration, event_rate, percent

__all__ = ["simulation_head", "simulation_rows", "to_html", "to_markdown"]

_BUDGET_SHORT = {c.ALERT_BUDGET_LOW: "budget low", c.ALERT_BREACH: "breach"}


def _short(timing: AlertTiming) -> str:
    if timing.alert in _BUDGET_SHORT:
        return _BUDGET_SHORT[timing.alert]
    return "page" if timing.severity == c.SEVERITY_PAGE else "ticket"


def simulation_head(sim: Simulation) -> list[str]:
    """The table's columns: per alert when it fires, the formula's time, when it resolves."""
    head = ["error ratio", "burn rate"]
    for timing in sim.rows[0].alerts if sim.rows else ():
        short = _short(timing)
        formula = "formula" if timing.alert in _BUDGET_SHORT else "Workbook"
        head += [f"{short} after", f"{short} ({formula})", f"{short} resolves"]
    return [*head, "budget cost"]


def _resolves(sim: Simulation, timing: AlertTiming) -> str:
    after = timing.resolved_after
    if after is not None:
        # "+": after the outage's end; "-": before it (the alert flapped)
        return ("+" if after >= timedelta(0) else "") + duration(after)
    if timing.fires_after is not None:
        return f"~{duration(sim.slo.period)}"  # still firing: until the outage leaves the period
    return duration(None)


def simulation_rows(sim: Simulation) -> list[list[str]]:
    """One row of text per error ratio, in the columns of :func:`simulation_head`."""
    rows = []
    for row in sim.rows:
        cells = [percent(row.error_ratio, None), burn_rate(row.burn_rate, None)]
        for timing in row.alerts:
            cells += [duration(timing.fires_after), duration(timing.workbook),
                      _resolves(sim, timing)]  # fmt: skip
        cells.append(percent(row.budget_consumed, 1))
        rows.append(cells)
    return rows


_BUDGET_INTRO = (
    " Budget alerts: after a whole clean period, rules evaluated every {every} (once per "
    "aggregate); formula: (1 - threshold) x (1 - objective) x period ÷ error ratio; "
    "'~{period}': resolves as the outage leaves the period."
)


def _traffic(sim: Simulation) -> str:
    if sim.rate is None:
        return "clean traffic"
    return f"clean traffic of {event_rate(sim.rate)} (whole events)"


def _intro(sim: Simulation) -> str:
    s = sim.slo
    text = (
        f"{s.name}: objective {number(s.objective_percent)}% over {duration(s.period)}; an "
        f"outage of {duration(sim.duration)} at each error ratio, after {_traffic(sim)}. Rules "
        f"evaluated every {duration(sim.evaluation_interval)} by promtool, series scraped "
        f"every {duration(sim.scrape_interval)}. 'after': from the outage's start; "
        "'resolves': after its end; Workbook: factor x (1 - objective) x long window ÷ error "
        "ratio; budget cost: share of one period's error budget."
    )
    if s.min_events is not None:
        text += (
            f" Burn alerts need {s.min_events} events in their long window "
            "(alerting.min_events); the Workbook's times ignore it."
        )
    if any(t.alert in _BUDGET_SHORT for row in sim.rows for t in row.alerts):
        text += _BUDGET_INTRO.format(period=duration(s.period), every=c.AGGREGATE_INTERVAL)
    return text


def to_markdown(sim: Simulation) -> str:
    """One simulation: a title, what was simulated, the table."""
    lines = [f"# Simulation: {sim.slo.name}", "", _intro(sim), ""]
    lines += markdown_table(simulation_head(sim), simulation_rows(sim))
    return "\n".join(lines) + "\n"


def _chart(sim: Simulation) -> str:
    """Detection time against error ratio: promtool's dots, the Workbook's dashes."""
    first = sim.rows[0].alerts if sim.rows else ()

    def seconds(value: timedelta | None) -> float | None:
        return None if value is None else value.total_seconds()

    lines = [
        DetectionLine(
            f"{_short(timing)}: {timing.alert}",
            [(r.error_ratio, seconds(r.alerts[i].workbook)) for r in sim.rows],
            [(r.error_ratio, seconds(r.alerts[i].fires_after)) for r in sim.rows],
        )
        for i, timing in enumerate(first)
    ]
    title = f"{sim.slo.name}: time to alert by error ratio"
    return detection_chart(title, [r.error_ratio for r in sim.rows], lines)


def to_html(sims: Sequence[Simulation]) -> str:
    """One self-contained page (the report's style): per SLO the table and the chart."""
    body = ["<h1>SLO simulation</h1>"]
    for sim in sims:
        body.append(f'<h2 id="{html.escape(sim.slo.name)}">{html.escape(sim.slo.name)}</h2>')
        body.append(f"<p>{html.escape(_intro(sim))}</p>")
        body.append(html_table(simulation_head(sim), simulation_rows(sim)))
        body.append(f'<div class="charts">{_chart(sim)}</div>')
    return html_page("SLO simulation", body)
