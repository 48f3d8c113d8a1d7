"""Error-budget arithmetic: the one place the toolkit does SLO math.

Every ratio is a fraction (0.999, not 99.9). Definitions (Google SRE Workbook):

- allowed error ratio (the error budget) = 1 - objective
- allowed downtime over a period          = period * (1 - objective)
  (99.9% over 30 days: 2,592,000 s * 0.001 = 2,592 s = 43.2 min)
- budget consumed                         = (1 - SLI) / (1 - objective)
- budget remaining                        = 1 - (1 - SLI) / (1 - objective)
  (SLI 95% against SLO 99%: 1 - 0.05 / 0.01 = -4, i.e. -400%)
- burn rate                               = error ratio / (1 - objective)
  (1 spends exactly the budget in one period; 14.4 spends 2% of a 30-day budget in an hour)
- time to exhaustion                      = remaining * period / burn rate

Exactness: ``1 - 0.999`` in binary floating point is 0.0010000000000000009, so
the worked examples above would come out a few ulps off. Complements are taken
in decimal from the shortest repr of the float (the number the user wrote), and
so are the divisions by the budget, so ``error_budget(0.999) == 0.001``,
``burn_rate(0.0144, 0.999) == 14.4`` and ``remaining_budget(0.95, 0.99) == -4.0``
exactly; results stay plain floats.
"""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

__all__ = [
    "allowed_downtime",
    "budget_consumed",
    "burn_rate",
    "error_budget",
    "error_ratio",
    "is_exhausted",
    "remaining_budget",
    "sli_from_error_ratio",
    "time_to_exhaustion",
]


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number, got {value!r}")
    return value


def _fraction(name: str, value: float) -> float:
    value = _finite(name, value)
    if not 0 <= value <= 1:
        raise ValueError(f"{name}: {value!r} must be a fraction between 0 and 1")
    return value


def _objective(objective: float) -> float:
    value = _finite("objective", objective)
    if value >= 1:
        hint = f" (a percentage? use {value / 100:g})" if 1 < value < 100 else ""
        raise ValueError(f"objective: {value!r} leaves no error budget; it must be below 1{hint}")
    if value <= 0:
        raise ValueError(f"objective: {value!r} must be above 0, e.g. 0.999")
    return value


def _period(period: timedelta) -> timedelta:
    if not isinstance(period, timedelta):
        raise ValueError(f"period: expected a timedelta, got {period!r}")
    if period <= timedelta(0):
        raise ValueError(f"period: {period} must be longer than zero")
    return period


def _complement(value: float) -> float:
    """``1 - value`` computed in decimal from the float's shortest repr (see module doc)."""
    return float(Decimal(1) - Decimal(repr(value)))


def _divide(a: float, b: float) -> float:
    """``a / b`` in decimal from the shortest reprs, rounded once to a float."""
    return float(Decimal(repr(a)) / Decimal(repr(b)))


def error_budget(objective: float) -> float:
    """Allowed error ratio for ``objective``: 0.999 -> 0.001."""
    return _complement(_objective(objective))


def error_ratio(sli: float) -> float:
    """Ratio of bad events for an SLI (good ratio): 0.95 -> 0.05."""
    return _complement(_fraction("sli", sli))


def sli_from_error_ratio(ratio: float) -> float:
    """The SLI (good ratio) for an error ratio: 0.05 -> 0.95."""
    return _complement(_fraction("error_ratio", ratio))


def allowed_downtime(objective: float, period: timedelta) -> timedelta:
    """Time the service may be fully down over ``period``: 0.999 over 30 days -> 43.2 min."""
    seconds = Decimal(repr(error_budget(objective))) * Decimal(
        repr(_period(period).total_seconds())
    )
    return timedelta(seconds=float(seconds))


def budget_consumed(sli: float, objective: float) -> float:
    """Share of the error budget spent at ``sli``: 1.0 is all of it, above 1 overspent."""
    return _divide(error_ratio(sli), error_budget(objective))


def remaining_budget(sli: float, objective: float) -> float:
    """``1 - (1 - SLI)/(1 - SLO)``: 1 untouched, 0 exhausted, negative overspent.

    SLI 0.95 against objective 0.99 gives -4.0 (-400%).
    """
    return float(Decimal(1) - Decimal(repr(budget_consumed(sli, objective))))


def burn_rate(error_ratio: float, objective: float) -> float:
    """How fast the budget burns: 1 spends exactly the budget in one period."""
    return _divide(_fraction("error_ratio", error_ratio), error_budget(objective))


def is_exhausted(remaining: float) -> bool:
    """True when no budget is left (``remaining`` as from :func:`remaining_budget`)."""
    return _finite("remaining", remaining) <= 0


def time_to_exhaustion(remaining: float, rate: float, period: timedelta) -> timedelta | None:
    """Time until the budget is gone if it keeps burning at ``rate``.

    ``remaining`` is the budget left (1 = all), ``rate`` a burn rate and ``period``
    the SLO period: burning at 1 spends a whole budget in one period, so the rest
    lasts ``remaining * period / rate``. ``None`` means never (no burn);
    an exhausted budget gives ``timedelta(0)``.
    """
    remaining = _finite("remaining", remaining)
    rate = _finite("rate", rate)
    if rate < 0:
        raise ValueError(f"rate: {rate!r} must not be negative")
    _period(period)
    if remaining <= 0:
        return timedelta(0)
    if rate == 0:
        return None
    return timedelta(seconds=remaining * period.total_seconds() / rate)
