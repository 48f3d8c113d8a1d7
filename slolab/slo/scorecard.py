"""A game day's scorecard: expectations about alerts and budgets, held against what happened.

Generic: an expectation names an alert, an SLO and a time bound; an outcome is
the alerts that fired (first and last firing, from the start of the run) and
the share of each SLO's period budget spent. The same maths scores a
prediction (promtool) and a live run (Prometheus and Alertmanager), so the two
stand side by side with the SRE Workbook's formula.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from slolab.slo.views import NO_VALUE, duration, percent

__all__ = [
    "AlertExpectation",
    "BudgetExpectation",
    "Check",
    "Firing",
    "Outcome",
    "Scorecard",
    "score",
]


@dataclass(frozen=True)
class AlertExpectation:
    """``alert`` for ``slo`` fires (``fire``) within ``within`` of ``origin``, or never fires."""

    alert: str
    slo: str
    fire: bool
    severity: str | None = None
    within: timedelta | None = None  # None: any time during the run
    origin: timedelta = timedelta(0)  # from the run's start: where ``within`` counts from

    @property
    def key(self) -> tuple[str, str]:
        return (self.alert, self.slo)

    def describe(self) -> str:
        sev = f" ({self.severity})" if self.severity else ""
        if not self.fire:
            return f"{self.alert}{sev} for {self.slo} does not fire"
        bound = f" within {duration(self.within)}" if self.within is not None else ""
        return f"{self.alert}{sev} for {self.slo} fires{bound}"


@dataclass(frozen=True)
class BudgetExpectation:
    """The run spends between ``at_least`` and ``at_most`` of ``slo``'s period budget."""

    slo: str
    at_least: float | None = None  # shares of the period's budget (0.01 = 1%)
    at_most: float | None = None

    def describe(self) -> str:
        parts = []
        if self.at_least is not None:
            parts.append(f"at least {self.at_least * 100:g}%")
        if self.at_most is not None:
            parts.append(f"at most {self.at_most * 100:g}%")
        return f"{self.slo} spends {' and '.join(parts)} of its budget"


@dataclass(frozen=True)
class Firing:
    """One alert of one SLO: when it first and last fired, from the run's start."""

    alert: str
    slo: str
    severity: str
    first: timedelta
    last: timedelta | None = None
    evaluations: int = 0  # evaluations it was firing at (0: unknown)
    starts: int = 1  # times it began firing (over 1: it flapped)


@dataclass
class Outcome:
    """What happened (or will): the firings and the budget spent per SLO."""

    firings: list[Firing] = field(default_factory=list)
    budget_spent: dict[str, float] = field(default_factory=dict)
    elapsed: timedelta | None = None  # how much of the run is behind us (live: grows)

    def firing(self, alert: str, slo: str) -> Firing | None:
        return next((f for f in self.firings if (f.alert, f.slo) == (alert, slo)), None)


@dataclass(frozen=True)
class Check:
    """One expectation's row: observed (and predicted, formula) times, passed or not."""

    expectation: AlertExpectation | BudgetExpectation
    passed: bool | None  # None: not decided yet (a live run still going)
    observed: str
    predicted: str = NO_VALUE
    formula: str = NO_VALUE
    detail: str = ""

    @property
    def name(self) -> str:
        return self.expectation.describe()


@dataclass(frozen=True)
class Scorecard:
    checks: tuple[Check, ...]
    unexpected: tuple[Firing, ...]  # pages (and tickets) no expectation mentions
    budget_spent: Mapping[str, float]
    predicted_spent: Mapping[str, float] = field(default_factory=dict)
    unexpected_severity: str = "critical"  # pages nobody expected fail the card

    @property
    def unexpected_pages(self) -> tuple[Firing, ...]:
        return tuple(f for f in self.unexpected if f.severity == self.unexpected_severity)

    @property
    def failures(self) -> list[str]:
        failed = [c.name for c in self.checks if c.passed is False]
        failed += [f"unexpected page: {f.alert} for {f.slo}" for f in self.unexpected_pages]
        return failed

    @property
    def passed(self) -> bool | None:
        """True or False once every check is decided; None while one is open."""
        if self.failures:
            return False
        if any(c.passed is None for c in self.checks):
            return None
        return True


def _since(firing: Firing | None, origin: timedelta) -> timedelta | None:
    return None if firing is None else firing.first - origin


def _alert_check(
    exp: AlertExpectation,
    outcome: Outcome,
    predicted: Outcome | None,
    formula: timedelta | None,
    final: bool,
) -> Check:
    got = outcome.firing(exp.alert, exp.slo)
    after = _since(got, exp.origin)
    pred = _since(predicted.firing(exp.alert, exp.slo), exp.origin) if predicted else None
    pred_text = (
        NO_VALUE if predicted is None else ("never" if pred is None else f"after {duration(pred)}")
    )
    formula_text = duration(formula) if exp.fire else NO_VALUE
    observed = "never" if got is None else f"after {duration(after)}"
    if exp.fire:
        deadline = None if exp.within is None else exp.origin + exp.within
        if got is not None:
            ok = deadline is None or got.first <= deadline
            detail = "" if ok else f"late: {duration(after)} > {duration(exp.within)}"
            return Check(exp, ok, observed, pred_text, formula_text, detail)
        past = outcome.elapsed is not None and deadline is not None and outcome.elapsed > deadline
        decided = final or past
        return Check(
            exp,
            False if decided else None,
            observed if decided else "not yet",
            pred_text,
            formula_text,
            "did not fire" if decided else "",
        )
    if got is not None:
        return Check(exp, False, observed, pred_text, formula_text, "fired")
    return Check(exp, True if final else None, observed, pred_text, formula_text)


def _budget_check(
    exp: BudgetExpectation, outcome: Outcome, predicted: Outcome | None, final: bool
) -> Check:
    spent = outcome.budget_spent.get(exp.slo)
    pred = predicted.budget_spent.get(exp.slo) if predicted else None
    pred_text = percent(pred, 2)
    if spent is None:
        return Check(
            exp,
            False if final else None,
            "no data",
            pred_text,
            detail="no figure for this SLO" if final else "",
        )
    low = exp.at_least is None or spent >= exp.at_least
    high = exp.at_most is None or spent <= exp.at_most
    detail = "" if low and high else ("too little" if not low else "too much")
    # Spending only grows: too much is final at once, too little only at the end.
    passed: bool | None = low and high
    if not final and not low and high:
        passed, detail = None, ""
    return Check(exp, passed, percent(spent, 2), pred_text, detail=detail)


def score(
    alerts: Sequence[AlertExpectation],
    budgets: Sequence[BudgetExpectation],
    outcome: Outcome,
    *,
    predicted: Outcome | None = None,
    formula: Mapping[tuple[str, str], timedelta | None] | None = None,
    final: bool = True,
) -> Scorecard:
    """Hold ``outcome`` to the expectations; ``final``: the run is over (nothing more comes).

    ``predicted`` (another outcome, e.g. promtool's) and ``formula`` (detection
    times by (alert, slo), from each expectation's origin) fill their columns.
    """
    formula = formula or {}
    checks = [_alert_check(e, outcome, predicted, formula.get(e.key), final) for e in alerts]
    checks += [_budget_check(e, outcome, predicted, final) for e in budgets]
    named = {e.key for e in alerts}
    unexpected = tuple(f for f in outcome.firings if (f.alert, f.slo) not in named)
    return Scorecard(
        tuple(checks),
        unexpected,
        dict(outcome.budget_spent),
        dict(predicted.budget_spent) if predicted else {},
    )
