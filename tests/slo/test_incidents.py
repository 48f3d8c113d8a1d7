"""Incidents from a real Prometheus holding backfilled ALERTS history and SLI counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slolab.slo import incidents as inc
from slolab.slo.query import Prometheus
from slolab.slo.report import incidents as render
from tests.slo.backfill import backfilled_prometheus, counter, firing, needs_prometheus

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

H = 3600.0
# Fixed in the past: blocks are written for it, queries run "at" it.
END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
E = END.timestamp()
OUTAGE = (E - 4 * H, E - 3.5 * H)  # every tasks request a 5xx for 30 minutes
PAGE = (E - 4 * H + 60, E - 3 * H)
TICKET = (E - 4 * H + 300, E - 2 * H)
LATENCY_TICKET = (E - 1 * H, E - 40 * 60)
FRESHNESS = (E - 10 * 60, E - 30)  # still firing at END


def _alerts(name: str, slo: str, service: str, severity: str) -> str:
    return (f'ALERTS{{alertname="{name}",alertstate="firing",slo="{slo}",service="{service}",'
            f'severity="{severity}"}}')  # fmt: skip


def _history() -> dict[str, list[tuple[float, float]]]:
    start, step = E - 8 * H, 15.0
    ok = 'flask_http_request_duration_seconds_count{job="tasks",path="/api/tasks",status="200"}'
    bad = 'flask_http_request_duration_seconds_count{job="tasks",path="/api/tasks",status="500"}'
    outage = lambda t: OUTAGE[0] <= t < OUTAGE[1]  # noqa: E731
    return {
        ok: counter(start, E, step, lambda t: 0.0 if outage(t) else 2.0),
        bad: counter(start, E, step, lambda t: 2.0 if outage(t) else 0.0),
        _alerts("SLOErrorBudgetBurnPage", "tasks-availability", "tasks", "critical"): firing(*PAGE),
        _alerts("SLOErrorBudgetBurnTicket", "tasks-availability", "tasks", "warning"):
            firing(*TICKET),
        _alerts("SLOErrorBudgetBurnTicket", "tasks-latency", "tasks", "warning"):
            firing(*LATENCY_TICKET),
        _alerts("SLOErrorBudgetBurnPage", "model-freshness", "predictor", "critical"):
            firing(*FRESHNESS),
        # an SLO that is not in the file: ignored
        _alerts("SLOErrorBudgetBurnPage", "other", "tasks", "critical"): firing(*PAGE),
    }  # fmt: skip


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    with backfilled_prometheus(tmp_path_factory.mktemp("incidents"), _history()) as url:
        yield url


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


@needs_prometheus
@pytest.mark.slow
def test_incidents_from_alert_history(prometheus, toolkit_slos, tmp_path):
    with Prometheus(prometheus) as prom:
        found = inc.find(prom, toolkit_slos, END - timedelta(hours=6), END)
    assert [(i.service, i.slos) for i in found] == [
        ("tasks", ("tasks-availability",)),
        ("tasks", ("tasks-latency",)),
        ("predictor", ("model-freshness",)),
    ]
    outage, latency, fresh = found
    # page and ticket overlap: one incident from the page's start to the ticket's resolution
    assert outage.start == _at(PAGE[0]) and outage.end == _at(TICKET[1] + 30)
    assert outage.severity == "critical" and outage.duration == timedelta(hours=2, seconds=-30)
    assert [e.alert for e in outage.episodes] == ["SLOErrorBudgetBurnPage",
                                                  "SLOErrorBudgetBurnTicket"]  # fmt: skip
    assert latency.severity == "warning" and latency.end == _at(LATENCY_TICKET[1] + 30)
    assert fresh.end is None and fresh.duration == timedelta(minutes=10)

    # Budget: 29 of the 30 outage minutes fall inside the incident, at 2 requests a
    # second, against 0.1% of the requests of the period up to the incident's end (the
    # history starts 8 hours before END, the incident ends 2 hours before it).
    (impact,) = outage.impacts
    period_events = (TICKET[1] + 30 - (E - 8 * H)) * 2
    assert impact.bad == pytest.approx(29 * 60 * 2, rel=0.01)
    assert impact.budget_consumed == pytest.approx(29 * 60 * 2 / (0.001 * period_events), rel=0.01)

    table = render.to_markdown(found, END - timedelta(hours=6), END)
    assert "| 20261120-0801-tasks | critical | 2026-11-20 08:01:00 UTC |" in table
    assert "ongoing" in table

    text = render.postmortem(outage)
    assert "docs/runbooks.md#tasks-availability" in text
    fired = "SLOErrorBudgetBurnPage (critical) fired for tasks-availability"
    assert f"- 2026-11-20 08:01:00 {fired}" in text
    assert "- 2026-11-20 09:00:30 SLOErrorBudgetBurnPage resolved for tasks-availability" in text
    assert "## Action items" in text

    paths = render.write_postmortems(found, tmp_path)
    assert paths[0].name == "incident-20261120-0801-tasks.md"
    paths[0].write_text("edited by a human")
    assert render.write_postmortems(found, tmp_path) == []  # never overwrites
    assert paths[0].read_text() == "edited by a human"


@needs_prometheus
@pytest.mark.slow
def test_no_incidents_in_a_quiet_window(prometheus, toolkit_slos):
    with Prometheus(prometheus) as prom:
        quiet = inc.find(prom, toolkit_slos, END - timedelta(hours=8), END - timedelta(hours=5))
    assert quiet == []
    assert "No page or ticket fired" in render.to_markdown(quiet, END, END)


@needs_prometheus
@pytest.mark.slow
def test_cli_incidents_and_report_section(prometheus, toolkit_slos_file, tmp_path, capsys):
    from slolab.cli import main

    base = ["-f", str(toolkit_slos_file), "--prometheus", prometheus, "--end", END.isoformat()]
    folder = tmp_path / "pm"
    assert main(["slo", "incidents", *base, "--since", "6h", "--postmortems", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.count("| 20261120-") == 3 and f"wrote {folder}/incident-" in out
    assert len(list(folder.glob("incident-*.md"))) == 3

    assert main(["slo", "report", *base, "--period", "6h", "--incidents"]) == 0
    out = capsys.readouterr().out
    assert "## Incidents" in out and "| 20261120-0801-tasks | critical |" in out
    assert main(["slo", "report", *base, "--period", "6h"]) == 0
    assert "## Incidents" not in capsys.readouterr().out
