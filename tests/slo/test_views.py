"""views: every figure's text, one table of inputs and the text they read as."""

from __future__ import annotations

import argparse
from datetime import timedelta

import pytest

from slolab.slo.cli.common import rate
from slolab.slo.views import (
    NO_VALUE,
    burn_rate,
    duration,
    event_rate,
    percent,
    time_left,
)

CASES = [
    # (function, arguments, text)
    (percent, (0.9995,), "99.950%"),
    (percent, (0.9995, 2), "99.95%"),
    (percent, (0.301, 1), "30.1%"),
    (percent, (1.0, None), "100%"),
    (percent, (0.005, None), "0.5%"),
    (percent, (-542.434, 1), "-54243.4%"),
    (percent, (None,), NO_VALUE),
    (burn_rate, (14.4,), "14.40x"),
    (burn_rate, (100.0, None), "100x"),
    (burn_rate, (2.5, None), "2.5x"),
    (burn_rate, (None,), NO_VALUE),
    (duration, (timedelta(seconds=30),), "30s"),
    (duration, (timedelta(seconds=17.28),), "17.3s"),
    (duration, (timedelta(seconds=0),), "0s"),
    (duration, (timedelta(seconds=59.96),), "1m"),
    (duration, (timedelta(seconds=86.4),), "1m26s"),
    (duration, (timedelta(minutes=5, seconds=30),), "5m30s"),
    (duration, (timedelta(days=1, hours=9, minutes=12),), "1d9h12m"),
    (duration, (timedelta(days=1, hours=9, minutes=12), 2), "1d9h"),
    (duration, (timedelta(seconds=-90),), "-1m30s"),
    (duration, (2670.0,), "44m30s"),  # seconds as a number
    (duration, (None,), NO_VALUE),
    (time_left, (None,), "never"),
    (time_left, (timedelta(0),), "exhausted"),
    (time_left, (timedelta(seconds=42),), "42s"),
    (time_left, (timedelta(minutes=12, seconds=30),), "12m"),
    (time_left, (timedelta(days=3, hours=4, minutes=5),), "3d4h"),
    (event_rate, (2.0,), "2/s"),
    (event_rate, (0.05,), "3/m"),
    (event_rate, (10 / 3600,), "10/h"),
]


@pytest.mark.parametrize(("func", "args", "text"), CASES,
                         ids=[f"{f.__name__}{a}" for f, a, _ in CASES])  # fmt: skip
def test_figure_text(func, args, text) -> None:
    assert func(*args) == text


def test_one_no_value_everywhere() -> None:
    assert NO_VALUE == "—"
    assert percent(None, missing="no data") == "no data"  # where a word says more


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("0.05", 0.05), ("0.05/s", 0.05), ("3/m", 0.05), ("10/h", 10 / 3600), (" 2/s ", 2.0)],
)
def test_simulate_rate_option(text: str, per_second: float) -> None:
    assert rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fast", "is not a rate like 0.05/s"),
        ("10/d", "is not a rate like 0.05/s"),
        ("0/s", "the rate must be above zero"),
        ("-1", "the rate must be above zero"),
        ("inf", "the rate must be above zero"),
    ],
)
def test_simulate_rate_option_refuses(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        rate(text)
