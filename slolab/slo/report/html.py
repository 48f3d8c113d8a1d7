"""A report as one self-contained HTML page: its CSS inline, SVG charts, no script."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from slolab.slo.report.svg import chart_svgs
from slolab.slo.report.text import STATUS_COLUMN, SUMMARY_HEAD, facts, summary_rows, when
from slolab.slo.views import percent

if TYPE_CHECKING:
    from slolab.slo.report.analysis import Report

__all__ = ["html_page", "html_table", "to_html"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
td:first-child,th:first-child{text-align:left}
.met{color:#1a7f37}.missed{color:#cf222e;font-weight:bold}.nodata{color:#777}
.charts{display:flex;flex-wrap:wrap;gap:1rem}
svg{background:#fafafa;border:1px solid #ddd}
"""


def html_table(
    head: Sequence[str], rows: Sequence[Sequence[str]], status_col: int | None = None
) -> str:
    """An HTML table of text cells; ``status_col`` cells get their text as CSS class."""
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = f' class="{cell.replace(" ", "")}"' if i == status_col else ""
            cells.append(f"<td{cls}>{html.escape(cell)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out) + "</table>"


def to_html(report: Report) -> str:
    """The whole report as one page, charts inline."""
    esc = html.escape
    charts = chart_svgs(report)
    body = [
        "<h1>SLO report</h1>",
        f"<p>Generated {esc(when(report.generated_at))} from {esc(report.source)}.</p>",
        html_table(SUMMARY_HEAD, summary_rows(report), status_col=STATUS_COLUMN),
    ]
    for r in report.slos:
        body.append(f'<h2 id="{esc(r.slo.name)}">{esc(r.slo.name)}</h2>')
        body.append(f"<p>{esc(r.slo.description)} (owner: {esc(r.slo.owner)})</p>")
        body.append("<ul>" + "".join(f"<li>{esc(f)}</li>" for f in facts(r)) + "</ul>")
        body.append('<div class="charts">')
        body += charts[r.slo.name]
        body.append("</div><h3>Violations</h3>")
        if r.violations:
            rows = [
                [when(v.start), when(v.end), percent(v.worst_sli), percent(v.budget_spent, 1)]
                for v in r.violations
            ]
            body.append(html_table(["from", "to", "worst SLI", "budget spent"], rows))
        else:
            body.append("<p>None: the SLI stayed at or above the objective in every step.</p>")
        body.append("<h3>Recommendations</h3><ul>")
        body += [f"<li>{esc(rec)}</li>" for rec in r.recommendations]
        body.append("</ul>")
    if report.incidents is not None:
        from slolab.slo.report.incidents import SUMMARY_HEAD as INCIDENTS_HEAD
        from slolab.slo.report.incidents import summary_rows as incident_rows

        body.append("<h2>Incidents</h2>")
        if report.incidents:
            body.append(html_table(INCIDENTS_HEAD, incident_rows(report.incidents)))
        else:
            body.append("<p>No page or ticket fired in the report's window.</p>")
    return html_page(f"SLO report {when(report.generated_at)}", body)


def html_page(title: str, body: Sequence[str]) -> str:
    """A self-contained page in the report's style: its CSS inline, no script."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        "</head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
