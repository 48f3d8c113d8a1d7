"""The scorecard's maths: pass, fail, open (a live run still going), pages nobody expected."""

from __future__ import annotations

from datetime import timedelta

from slolab.slo.scorecard import AlertExpectation, BudgetExpectation, Firing, Outcome, score

S = timedelta(seconds=1)
PAGE = AlertExpectation("Page", "a", fire=True, severity="critical", within=90 * S, origin=30 * S)
SILENT = AlertExpectation("Page", "b", fire=False)
BUDGET = BudgetExpectation("a", at_least=0.01, at_most=0.05)


def _fired(slo: str, first: int, severity: str = "critical") -> Firing:
    return Firing("Page", slo, severity, first * S)


def test_in_time_passes_late_fails():
    ok = score([PAGE], [], Outcome([_fired("a", 100)]))
    assert ok.passed is True and ok.checks[0].observed == "after 1m10s"
    late = score([PAGE], [], Outcome([_fired("a", 150)]))
    assert late.passed is False and "late: 2m > 1m30s" in late.checks[0].detail
    assert late.failures == ["Page (critical) for a fires within 1m30s"]


def test_never_fired_is_open_until_the_deadline_then_fails():
    live = score([PAGE], [], Outcome([], elapsed=60 * S), final=False)
    assert live.passed is None and live.checks[0].observed == "not yet"
    past = score([PAGE], [], Outcome([], elapsed=121 * S), final=False)
    assert past.passed is False
    assert score([PAGE], [], Outcome([])).passed is False


def test_must_not_fire_fails_at_once_and_passes_only_at_the_end():
    assert score([SILENT], [], Outcome([_fired("b", 10)]), final=False).passed is False
    assert score([SILENT], [], Outcome([]), final=False).passed is None
    assert score([SILENT], [], Outcome([])).passed is True


def test_unexpected_pages_fail_unexpected_tickets_do_not():
    card = score([], [], Outcome([_fired("c", 10), _fired("d", 10, "warning")]))
    assert [f.slo for f in card.unexpected] == ["c", "d"]
    assert card.failures == ["unexpected page: Page for c"]


def test_budget_bounds():
    assert score([], [BUDGET], Outcome(budget_spent={"a": 0.03})).passed is True
    assert score([], [BUDGET], Outcome(budget_spent={"a": 0.06})).checks[0].detail == "too much"
    # too little is only final at the end: spending grows
    assert score([], [BUDGET], Outcome(budget_spent={"a": 0.0}), final=False).passed is None
    assert score([], [BUDGET], Outcome(budget_spent={"a": 0.0})).passed is False
    assert score([], [BUDGET], Outcome()).checks[0].observed == "no data"


def test_predicted_and_formula_columns():
    pred = Outcome([_fired("a", 90)])
    card = score(
        [PAGE], [], Outcome([_fired("a", 100)]), predicted=pred, formula={PAGE.key: 51.84 * S}
    )
    check = card.checks[0]
    assert (check.predicted, check.formula) == ("after 1m", "51.8s")
