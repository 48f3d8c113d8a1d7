"""predict: every shipped scenario's scorecard passes; the outage pages at the Workbook's time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import slolab.slo as slo_pkg
from slolab.scenario.predict import predict
from slolab.scenario.spec import load_scenario, parse_scenario
from slolab.slo import conventions as c

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
SLOS = slo_pkg.load(ROOT / "slos.yaml")
EVALUATION = timedelta(seconds=30)  # the alerts' group interval (conventions.FAST_INTERVAL)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_scenario_passes_its_prediction(path: Path):
    prediction = predict(load_scenario(path, SLOS), SLOS)
    assert prediction.scorecard.passed, prediction.scorecard.failures
    assert prediction.scorecard.unexpected_pages == ()


def test_the_outage_pages_within_one_evaluation_of_the_workbook():
    sc = load_scenario(ROOT / "scenarios" / "tasks-outage.yaml", SLOS)
    prediction = predict(sc, SLOS)
    key = (c.ALERT_PAGE, "tasks-availability")
    fired = prediction.outcome.firing(*key)
    assert fired is not None
    after = fired.first - sc.faults[0].start
    workbook = prediction.formula[key]
    assert workbook == timedelta(seconds=51.84)
    assert workbook <= after <= workbook + EVALUATION


def test_a_flapping_fault_pages_once_on_30_day_windows_and_flaps_on_1_day_ones():
    sc = load_scenario(ROOT / "scenarios" / "flapping-fault.yaml", SLOS)
    runs = predict(sc, SLOS).runs
    held = runs[(c.ALERT_PAGE, "tasks-availability")]
    assert held.starts == 1 and held.evaluations > 20
    assert runs[(c.ALERT_PAGE, "tasks-error-rate")].starts == len(sc.faults)


def test_predict_flags_what_the_policy_cannot_meet():
    text = (ROOT / "scenarios" / "latency-regression.yaml").read_text()
    # 400 ms is under the 500 ms threshold: the file is valid, but nothing can page
    text = text.replace("latency_ms: 800", "latency_ms: 400")
    text = text.replace("name: latency-regression", "name: too-fast")
    prediction = predict(parse_scenario(text, SLOS, "too-fast.yaml"), SLOS)
    assert prediction.scorecard.passed is False
    notes = " | ".join(prediction.notes)
    assert "nothing in the scenario makes tasks-latency fail" in notes
    assert "the policy cannot meet: SLOErrorBudgetBurnPage (critical) for tasks-latency" in notes


def test_an_outage_inside_a_budget_adjustment_neither_pages_nor_spends():
    text = (ROOT / "scenarios" / "planned-maintenance.yaml").read_text()
    adjusted = predict(load_scenario(ROOT / "scenarios" / "planned-maintenance.yaml", SLOS), SLOS)
    # The same file without its adjustment: the store outage pages tasks and spends.
    start = text.index("adjustments:")
    plain_text = text[:start] + text[text.index("faults:") :]
    plain = predict(parse_scenario(plain_text, SLOS, "planned-maintenance.yaml"), SLOS)
    page = (c.ALERT_PAGE, "tasks-availability")
    # promtool ran the adjusted SLO's page (it could fire) and it never did.
    assert adjusted.runs[page].first is None and adjusted.runs[page].evaluations == 0
    assert plain.runs[page].first is not None
    assert adjusted.outcome.budget_spent["tasks-availability"] == 0
    assert plain.outcome.budget_spent["tasks-availability"] > 0.04  # 2 min of 30 days at 99.9%
    # The predictor, outside the adjustment, pages alike in both.
    control = (c.ALERT_PAGE, "predictor-availability")
    assert adjusted.runs[control].first == plain.runs[control].first is not None
