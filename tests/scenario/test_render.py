"""The scorecard's four forms: the same checks, verdict and charts in each."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import slolab.slo as slo_pkg
from slolab.scenario.render import CardView, to_html, to_json, to_markdown, to_terminal
from slolab.scenario.spec import load_scenario
from slolab.slo.scorecard import Firing, Outcome, score

ROOT = Path(__file__).resolve().parents[2]
SLOS = slo_pkg.load(ROOT / "slos.yaml")
OUTAGE = load_scenario(ROOT / "scenarios" / "tasks-outage.yaml", SLOS)
S = timedelta(seconds=1)
FIRINGS = [
    Firing("SLOErrorBudgetBurnPage", "tasks-availability", "critical", 80 * S, 180 * S),
    Firing("SLOErrorBudgetBurnPage", "tasks-error-rate", "critical", 50 * S, 180 * S),
    Firing("SLOErrorBudgetBurnPage", "predictor-uptime", "critical", 10 * S, 20 * S),
]


def _view() -> CardView:
    outcome = Outcome(FIRINGS, {"tasks-availability": 0.05}, 180 * S)
    card = score(OUTAGE.alerts, OUTAGE.budgets, outcome, predicted=outcome,
                 formula={("SLOErrorBudgetBurnPage", "tasks-availability"): 51.84 * S})  # fmt: skip
    burn = {"tasks-availability": [(0 * S, 0.0), (180 * S, 0.05)]}
    return CardView(OUTAGE, card, "observed", FIRINGS, burn, ["a note"])


def test_every_form_has_the_verdict_the_checks_and_what_nobody_expected():
    view = _view()
    # tasks-uptime never fired, and predictor-uptime paged unexpectedly
    assert view.card.failures == [
        "SLOErrorBudgetBurnPage (critical) for tasks-uptime fires within 2m",
        "unexpected page: SLOErrorBudgetBurnPage for predictor-uptime",
    ]
    text, md, page = to_terminal(view), to_markdown(view), to_html(view)
    doc = json.loads(to_json(view))
    for out in (text, md, page):
        assert "tasks-outage: FAILED (observed)" in out
        assert "after 1m" in out and "51.8s" in out  # observed from the fault, Workbook
        assert "predictor-uptime" in out and "a note" in out
    assert doc["passed"] is False and doc["failures"] == view.card.failures
    assert doc["firings"][0]["first_s"] == 80.0 and doc["faults"][0]["end_s"] == 170.0
    # the timeline (fault band, deadlines, firings) and the burn-down, inline
    assert page.count("<svg") == 2 and "<script" not in page
    assert "fault: tasks error_rate=1" in page and "tasks-availability" in page


def test_a_budget_adjustment_is_a_band_on_the_timeline_and_in_the_state():
    planned = load_scenario(ROOT / "scenarios" / "planned-maintenance.yaml", SLOS)
    card = score(planned.alerts, planned.budgets, Outcome([], {}, planned.duration))
    doc = json.loads(to_json(CardView(planned, card, "predicted", [])))
    assert doc["adjustments"] == [
        {"label": "planned database migration", "start_s": 30.0, "end_s": 240.0,
         "slos": ["tasks-availability", "tasks-latency", "tasks-error-rate", "tasks-uptime"]}
    ]  # fmt: skip
    assert "adjustment: planned database migration" in to_html(CardView(planned, card, "x", []))
    assert "adjustments" not in json.loads(to_json(_view()))  # none: the file as it was
