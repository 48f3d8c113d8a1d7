"""Error-budget math: the design documents' worked examples, edge cases and errors."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from slolab.slo import budget as b

DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("objective", "expected"),
    [(0.999, 0.001), (0.99, 0.01), (0.95, 0.05), (0.85, 0.15), (0.9999, 0.0001), (0.5, 0.5)],
)
def test_error_budget_is_one_minus_objective(objective: float, expected: float) -> None:
    assert b.error_budget(objective) == expected  # exact, not just close


def test_allowed_downtime_of_three_nines_over_30_days_is_43_2_minutes() -> None:
    downtime = b.allowed_downtime(0.999, 30 * DAY)
    assert downtime == timedelta(minutes=43.2)
    assert math.isclose(downtime.total_seconds() / 60, 43.2)


@pytest.mark.parametrize(
    ("objective", "period", "minutes"),
    [
        (0.999, 7 * DAY, 10.08),
        (0.999, 28 * DAY, 40.32),
        (0.99, DAY, 14.4),
        (0.9999, 30 * DAY, 4.32),
        (0.95, 30 * DAY, 2160),
    ],
)
def test_allowed_downtime_other_periods(objective: float, period: timedelta, minutes: float):
    assert math.isclose(b.allowed_downtime(objective, period).total_seconds(), minutes * 60)


def test_worked_example_sli_95_against_slo_99_leaves_minus_400_percent() -> None:
    assert b.remaining_budget(0.95, 0.99) == -4.0
    assert b.budget_consumed(0.95, 0.99) == 5.0
    assert b.is_exhausted(b.remaining_budget(0.95, 0.99))


@pytest.mark.parametrize(
    ("sli", "objective", "remaining"),
    [
        (1.0, 0.999, 1.0),  # no errors: untouched
        (0.999, 0.999, 0.0),  # exactly on target: all spent
        (0.9995, 0.999, 0.5),
        (0.9999, 0.999, 0.9),
        (0.998, 0.999, -1.0),
        (0.0, 0.999, -999.0),  # total outage
        (0.9, 0.85, 1 / 3),
    ],
)
def test_remaining_budget(sli: float, objective: float, remaining: float) -> None:
    assert math.isclose(b.remaining_budget(sli, objective), remaining, abs_tol=1e-12)
    assert math.isclose(b.budget_consumed(sli, objective), 1 - remaining, abs_tol=1e-12)


def test_exhausted_at_zero_and_below_only() -> None:
    assert b.is_exhausted(0.0)
    assert b.is_exhausted(-0.01)
    assert not b.is_exhausted(1e-9)
    assert not b.is_exhausted(1.0)


@pytest.mark.parametrize(
    ("ratio", "objective", "rate"),
    [
        (0.0, 0.999, 0.0),
        (0.001, 0.999, 1.0),
        (0.0144, 0.999, 14.4),  # the Workbook's page threshold
        (0.006, 0.999, 6.0),
        (1.0, 0.999, 1000.0),  # full outage
        (0.15, 0.85, 1.0),
        (1.0, 0.85, 1 / 0.15),  # an 85% objective can never burn at 14.4x
    ],
)
def test_burn_rate(ratio: float, objective: float, rate: float) -> None:
    assert math.isclose(b.burn_rate(ratio, objective), rate)


def test_burn_rate_of_14_4_spends_2_percent_of_a_30_day_budget_per_hour() -> None:
    rate = b.burn_rate(0.0144, 0.999)
    spent_per_hour = rate * timedelta(hours=1) / (30 * DAY)
    assert math.isclose(spent_per_hour, 0.02)


def test_sli_and_error_ratio_are_complements() -> None:
    assert b.error_ratio(0.95) == 0.05
    assert b.sli_from_error_ratio(0.001) == 0.999
    assert b.error_ratio(1.0) == 0.0


@pytest.mark.parametrize(
    ("remaining", "rate", "period", "expected"),
    [
        (1.0, 1.0, 30 * DAY, 30 * DAY),  # burning at 1x: the whole period
        (0.5, 1.0, 30 * DAY, 15 * DAY),
        (1.0, 14.4, 30 * DAY, timedelta(hours=50)),  # 720 h / 14.4
        (0.02, 14.4, 30 * DAY, timedelta(hours=1)),
        (0.25, 2.0, 28 * DAY, timedelta(days=3.5)),
        (1.0, 1000.0, 30 * DAY, timedelta(minutes=43.2)),  # full outage spends the downtime
    ],
)
def test_time_to_exhaustion(remaining, rate, period, expected) -> None:
    got = b.time_to_exhaustion(remaining, rate, period)
    assert got is not None
    assert math.isclose(got.total_seconds(), expected.total_seconds())


def test_time_to_exhaustion_is_infinite_without_burn_and_zero_when_exhausted() -> None:
    assert b.time_to_exhaustion(0.7, 0.0, 30 * DAY) is None
    assert b.time_to_exhaustion(0.0, 3.0, 30 * DAY) == timedelta(0)
    assert b.time_to_exhaustion(-4.0, 0.0, 30 * DAY) == timedelta(0)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: b.error_budget(1.0), "objective"),  # 100%: no budget
        (lambda: b.error_budget(99.9), "objective"),  # a percentage
        (lambda: b.error_budget(0.0), "objective"),
        (lambda: b.error_budget(-0.5), "objective"),
        (lambda: b.error_budget(math.nan), "objective"),
        (lambda: b.error_budget("0.999"), "objective"),  # type: ignore[arg-type]
        (lambda: b.error_budget(True), "objective"),  # type: ignore[arg-type]
        (lambda: b.remaining_budget(1.2, 0.99), "sli"),
        (lambda: b.remaining_budget(-0.1, 0.99), "sli"),
        (lambda: b.remaining_budget(0.99, 1.0), "objective"),
        (lambda: b.burn_rate(1.5, 0.99), "error_ratio"),
        (lambda: b.burn_rate(math.inf, 0.99), "error_ratio"),
        (lambda: b.allowed_downtime(0.999, timedelta(0)), "period"),
        (lambda: b.allowed_downtime(0.999, 30), "period"),  # type: ignore[arg-type]
        (lambda: b.time_to_exhaustion(0.5, -1.0, DAY), "rate"),
        (lambda: b.time_to_exhaustion(math.nan, 1.0, DAY), "remaining"),
        (lambda: b.time_to_exhaustion(0.5, 1.0, -DAY), "period"),
        (lambda: b.is_exhausted(math.nan), "remaining"),
    ],
)
def test_invalid_input_names_the_argument(call, argument: str) -> None:
    with pytest.raises(ValueError, match=rf"^{argument}: "):
        call()


def test_a_percentage_objective_gets_a_hint() -> None:
    with pytest.raises(ValueError, match=r"use 0\.999"):
        b.error_budget(99.9)
