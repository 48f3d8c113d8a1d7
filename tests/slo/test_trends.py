"""SLI and budget trends over N windows, from a fake Prometheus."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from slolab.cli import main
from slolab.slo import conventions as c
from slolab.slo import promql
from slolab.slo.query import Prometheus, sli_query
from slolab.slo.trends import analyse, direction, render, slope
from tests.slo.fake_prometheus import matrix, vector

END = datetime(2026, 11, 23, tzinfo=UTC)


def trend_route(slo, window_slis, period_slis, coverage=None):
    """SLI per window and SLI over the period, oldest first, one value per step.

    ``coverage``: the recorded slo:period_coverage:seconds (instant query), if any.
    """

    def route(path, params):
        if path == "/api/v1/query":
            recorded = params["query"] == promql.recorded(slo, c.RULE_PERIOD_COVERAGE)
            return vector(({}, coverage)) if recorded and coverage is not None else vector()
        start, step = float(params["start"]), float(params["step"][:-1])
        values = {sli_query(slo, "1d"): window_slis, sli_query(slo, slo.period): period_slis}
        series = values.get(params["query"])
        if series is None:
            return matrix()
        return matrix(({}, [(start + i * step, v) for i, v in enumerate(series) if v is not None]))

    return route


def test_degrading_budget_gives_slope_and_days_to_exhaustion(fake_prom, toolkit_slos) -> None:
    slo = toolkit_slos[0]  # 99.9% over 30d
    # period SLI falls 0.9999 -> 0.9996: budget left 0.9 -> 0.6, i.e. -10% a day
    period = [0.9999, 0.9998, 0.9997, 0.9996]
    fake_prom.route = trend_route(slo, [0.9999, 0.9990, 0.9985, None], period)
    with Prometheus(fake_prom.url) as prom:
        trend = analyse(prom, slo, "1d", 4, END)
    assert [p.end for p in trend.points][-1] == END
    assert trend.points[-1].sli is None  # a window without data
    assert [round(p.budget_remaining, 6) for p in trend.points] == [0.9, 0.8, 0.7, 0.6]
    assert math.isclose(trend.budget_slope, -0.1)
    assert trend.direction == "degrading"
    assert math.isclose(trend.days_to_exhaustion, 6.0)
    assert trend.sli_slope < 0


def test_exhausted_and_improving(fake_prom, toolkit_slos) -> None:
    slo = toolkit_slos[0]
    fake_prom.route = trend_route(slo, [0.99] * 3, [0.998, 0.998, 0.998])
    with Prometheus(fake_prom.url) as prom:
        trend = analyse(prom, slo, "1d", 3, END)
        assert trend.direction == "exhausted" and trend.days_to_exhaustion == 0.0
        fake_prom.route = trend_route(slo, [1.0] * 3, [0.9990, 0.9995, 0.9999])
        trend = analyse(prom, slo, "1d", 3, END)
    assert trend.direction == "improving" and trend.days_to_exhaustion is None


def test_helpers() -> None:
    assert slope([0, 1, 2], [1, 3, 5]) == 2
    assert slope([1], [1]) is None
    assert direction(None, None) == "no data"
    assert direction(None, 0.5) == "too few windows"
    assert direction(None, -0.5) == "exhausted"
    assert direction(0.001, 0.5) == "stable"
    with pytest.raises(ValueError, match="windows: 1"):
        analyse(None, None, "1d", 1)  # type: ignore[arg-type]


def test_cli_trends(fake_prom, toolkit_slos, toolkit_slos_file, capsys) -> None:
    slo = toolkit_slos[0]
    fake_prom.route = trend_route(slo, [0.9999, 0.999, 0.998], [0.9999, 0.9998, 0.9997])
    argv = ["slo", "trends", "-f", str(toolkit_slos_file), "--prometheus", fake_prom.url,
            "--slo", "tasks-availability", "--windows", "3", "--end", END.isoformat()]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "tasks-availability: degrading; budget -10.00%/day; days to exhaustion: 7.0"
    )
    assert "budget over 30d, over the last 3d of data)" in out  # data in 3 windows only
    assert "2026-11-23 00:00Z  SLI   99.8000%  budget left (30d) 70.0%" in out


def test_one_window_of_data_never_says_no_data_beside_a_budget(
    fake_prom, toolkit_slos, capsys
) -> None:
    """Hours of data, the budget already spent: "exhausted", over how much data."""
    slo = toolkit_slos[0]
    fake_prom.route = trend_route(slo, [None] * 6 + [0.99], [None] * 6 + [0.99], coverage=10800.0)
    with Prometheus(fake_prom.url) as prom:
        trend = analyse(prom, slo, "1d", 7, END)
    assert trend.points[-1].budget_remaining == pytest.approx(-9.0)
    assert trend.direction == "exhausted" and trend.days_to_exhaustion == 0.0
    assert trend.span is not None and trend.span.total_seconds() == 10800 and trend.partial
    line = render([trend]).splitlines()[0]
    assert "no data" not in line and "0.0" not in line
    assert "days to exhaustion: exhausted" in line
    assert "budget over 30d, over the last 3h of data" in line
    # budget left but not yet a slope: no exhaustion forecast, and no "no data"
    fake_prom.route = trend_route(slo, [None] * 6 + [1.0], [None] * 6 + [0.9999])
    with Prometheus(fake_prom.url) as prom:
        trend = analyse(prom, slo, "1d", 7, END)
    assert trend.direction == "too few windows" and trend.days_to_exhaustion is None
    assert trend.span is not None and trend.span.total_seconds() == 86400  # first window
