"""A report as markdown: summary table, then per SLO its facts, violations and advice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from slolab.slo.report.text import SUMMARY_HEAD, facts, summary_rows, when
from slolab.slo.views import percent

if TYPE_CHECKING:
    from slolab.slo.report.analysis import Report

__all__ = ["markdown_table", "to_markdown"]


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a markdown table of text cells."""
    return [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def to_markdown(report: Report) -> str:
    """The whole report as one markdown document."""
    out = [f"# SLO report\n\nGenerated {when(report.generated_at)} from {report.source}.\n"]
    out += markdown_table(SUMMARY_HEAD, summary_rows(report))
    for r in report.slos:
        out.append(f"\n## {r.slo.name}\n\n{r.slo.description} (owner: {r.slo.owner})\n")
        out += [f"- {fact}" for fact in facts(r)]
        out.append("\n### Violations\n")
        if r.violations:
            out.append("| from | to | worst SLI | budget spent |\n|---|---|---|---|")
            out += [
                f"| {when(v.start)} | {when(v.end)} | {percent(v.worst_sli)} "
                f"| {percent(v.budget_spent, 1)} |"
                for v in r.violations
            ]
        else:
            out.append("None: the SLI stayed at or above the objective in every step.")
        out.append("\n### Recommendations\n")
        out += [f"- {rec}" for rec in r.recommendations]
    if report.incidents is not None:
        from slolab.slo.report.incidents import SUMMARY_HEAD as INCIDENTS_HEAD
        from slolab.slo.report.incidents import summary_rows as incident_rows

        out.append("\n## Incidents\n")
        if report.incidents:
            out += markdown_table(INCIDENTS_HEAD, incident_rows(report.incidents))
        else:
            out.append("No page or ticket fired in the report's window.")
    return "\n".join(out) + "\n"
