"""Incidents in markdown: the list of a window, and a postmortem skeleton for each.

Renders what :func:`slolab.slo.incidents.find` found; knows nothing of Prometheus.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from slolab.slo.views import duration, percent

if TYPE_CHECKING:  # the finder talks to Prometheus; the renderer only reads its results
    from slolab.slo.incidents import Incident

__all__ = [
    "SUMMARY_HEAD",
    "postmortem",
    "summary_rows",
    "timeline",
    "to_markdown",
    "write_postmortems",
]


def _when(value: datetime | None) -> str:
    return "ongoing" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def summary_rows(incidents: Sequence[Incident]) -> list[list[str]]:
    """One row per incident: id, severity, start, end, duration, SLOs, budget consumed."""
    return [
        [i.id, i.severity, _when(i.start), _when(i.end), duration(i.duration), ", ".join(i.slos),
         "; ".join(f"{x.slo.name} {percent(x.budget_consumed, 1)}" for x in i.impacts)]
        for i in incidents
    ]  # fmt: skip


SUMMARY_HEAD = ["incident", "severity", "start", "end", "duration", "SLOs hit", "budget consumed"]


def to_markdown(incidents: Sequence[Incident], start: datetime, end: datetime) -> str:
    lines = [f"# Incidents from {_when(start)} to {_when(end)}", ""]
    if not incidents:
        return "\n".join([*lines, "No page or ticket fired in this window.", ""])
    lines.append("| " + " | ".join(SUMMARY_HEAD) + " |")
    lines.append("|" + "|".join("---" for _ in SUMMARY_HEAD) + "|")
    lines += ["| " + " | ".join(r) + " |" for r in summary_rows(incidents)]
    return "\n".join(lines) + "\n"


def timeline(incident: Incident) -> list[tuple[datetime, str]]:
    events = []
    for e in incident.episodes:
        events.append((e.start, f"{e.alert} ({e.severity}) fired for {e.slo}"))
        if e.end is not None:
            events.append((e.end, f"{e.alert} resolved for {e.slo}"))
    return sorted(events, key=lambda x: x[0])


def postmortem(incident: Incident) -> str:
    """A ticket/postmortem skeleton: facts filled in, the analysis left to the team."""
    i = incident
    owners = sorted({x.slo.owner for x in i.impacts})
    out = [
        f"# Incident {i.id}: {i.service} ({i.severity})",
        "",
        f"- **Status:** {'resolved' if i.end else 'ongoing'}",
        f"- **Start:** {_when(i.start)}",
        f"- **End:** {_when(i.end)}",
        f"- **Duration:** {duration(i.duration)}",
        f"- **Owners:** {', '.join(owners)}",
        "",
        "## Impact",
        "",
        "| SLO | objective | bad / all events during the incident | budget consumed | runbook |",
        "|---|---|---|---|---|",
    ]
    for x in i.impacts:
        out.append(
            f"| {x.slo.name} | {x.slo.objective_percent:g}% over {duration(x.slo.period)} "
            f"| {x.bad:,.0f} / {x.total:,.0f} | {percent(x.budget_consumed, 1)} "
            f"| [{x.slo.runbook_url}]({x.slo.runbook_url}) |"
        )
    out += ["", "## Timeline (UTC)", ""]
    out += [f"- {when:%Y-%m-%d %H:%M:%S} {what}" for when, what in timeline(i)]
    out += [
        "- _(add: first human response, mitigation, root cause found)_",
        "",
        "## Summary",
        "",
        "_What happened, in two sentences._",
        "",
        "## Root cause and trigger",
        "",
        "_Why it happened; what set it off._",
        "",
        "## Detection",
        "",
        f"Detected by {', '.join(sorted({e.alert for e in i.episodes}))}. "
        "_Was it fast enough? Did anyone notice first?_",
        "",
        "## Resolution and recovery",
        "",
        "_What stopped the burn; follow the runbooks linked above._",
        "",
        "## Action items",
        "",
        "| action | owner | ticket | due |",
        "|---|---|---|---|",
        "| | | | |",
        "",
        "## Lessons learned",
        "",
        "_What went well, what went badly, where we got lucky._",
        "",
    ]
    return "\n".join(out)


def write_postmortems(incidents: Sequence[Incident], folder: Path) -> list[Path]:
    """One ``incident-<id>.md`` per incident in ``folder``; existing files are kept."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for inc in incidents:
        path = folder / f"incident-{inc.id}.md"
        if path.exists():  # a postmortem being written must never be overwritten
            continue
        path.write_text(postmortem(inc), encoding="utf-8")
        written.append(path)
    return written
