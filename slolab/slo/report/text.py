"""What every rendering of a report prints: numbers as text, the summary table, fact lines."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from slolab.slo import budget
from slolab.slo.durations import whole_minutes
from slolab.slo.views import NO_VALUE, duration, percent

if TYPE_CHECKING:
    from slolab.slo.report.analysis import Report, SLOReport

__all__ = ["STATUS_COLUMN", "SUMMARY_HEAD", "facts", "summary_rows", "summary_table", "when"]

SUMMARY_HEAD = ("SLO", "service", "objective", "SLI", "status", "budget consumed",
                "budget left", "violations", "data covers")  # fmt: skip
STATUS_COLUMN = SUMMARY_HEAD.index("status")


def when(value: datetime) -> str:
    """A time as people read it in a report (UTC, to the minute)."""
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _covers(r: SLOReport) -> str:
    if r.span is None:
        return NO_VALUE
    return duration(whole_minutes(r.span) if r.partial else r.end - r.start)


def summary_rows(report: Report) -> list[list[str]]:
    """One row of text per SLO, in the columns of :data:`SUMMARY_HEAD`."""
    rows = []
    for r, name in ((x, n) for top in report.slos for x, n in _with_periods(top)):
        rows.append([
            name, r.slo.service, percent(r.slo.objective, 2), percent(r.sli), r.status,
            percent(r.budget_consumed, 1), percent(r.budget_remaining, 1), str(len(r.violations)),
            _covers(r),
        ])  # fmt: skip
    return rows


def _with_periods(r: SLOReport) -> list[tuple[SLOReport, str]]:
    """The SLO's report and its further periods' (``periods: [30d, 7d]``), named."""
    return [(r, r.slo.name)] + [(p, f"{p.slo.name} ({duration(p.slo.period)})") for p in r.periods]


def summary_table(report: Report) -> tuple[list[str], list[list[str]]]:
    """The report's summary table: head and rows of text."""
    return list(SUMMARY_HEAD), summary_rows(report)


def facts(r: SLOReport) -> list[str]:
    """The lines that state an SLO's period, SLI and budget."""
    downtime = budget.allowed_downtime(r.slo.objective, r.end - r.start)
    covers = (
        f"; the data covers only the last {duration(whole_minutes(r.span))}"
        if r.partial and r.span is not None
        else ""
    )
    lines = [
        f"Period: {when(r.start)} to {when(r.end)} ({duration(r.end - r.start)}, "
        f"steps of {duration(r.step)}){covers}",
        f"Objective {percent(r.slo.objective, 2)}; SLI {percent(r.sli)} ({r.status}); "
        f"{r.total:,.0f} {'events' if r.slo.sli.kind in ('ratio', 'latency') else 'samples'}, "
        f"{r.total - r.good:,.0f} bad",
        f"Error budget: {percent(budget.error_budget(r.slo.objective), 2)} of events "
        f"(full downtime allowed: {duration(downtime)}); "
        f"consumed {percent(r.budget_consumed, 1)}, left {percent(r.budget_remaining, 1)}",
    ]
    for p in r.periods:  # the SLO's further periods, to the same end
        lines.append(
            f"Over the last {duration(p.slo.period)} (from {when(p.start)}): "
            f"SLI {percent(p.sli)} "
            f"({p.status}); budget consumed {percent(p.budget_consumed, 1)}, "
            f"left {percent(p.budget_remaining, 1)}"
            + (
                f"; the data covers only the last {duration(whole_minutes(p.span))}"
                if p.partial and p.span is not None
                else ""
            )
        )
    if r.adjustments:
        lines.append(
            "Budget adjustments (events left out): "
            + "; ".join(
                f"{name} ({reason}) {when(lo)} to {when(hi)}"
                for name, reason, lo, hi in r.adjustments
            )
        )
    return lines
