"""The compliance report from a fake Prometheus: numbers, markdown, self-contained HTML, CLI."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from slolab.cli import main
from slolab.slo import conventions as c
from slolab.slo import promql
from slolab.slo.durations import format_duration
from slolab.slo.query import Prometheus, counts_queries
from slolab.slo.report.analysis import build
from slolab.slo.report.html import to_html
from slolab.slo.report.markdown import to_markdown
from tests.slo.fake_prometheus import matrix, vector

END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STEP = timedelta(hours=6)  # 30 days / 120 points
BAD_STEPS = {10: 100.0, 11: 100.0}  # two adjacent 6h steps with 10% errors


def events_route(slo, per_step=1000.0, bad_steps=BAD_STEPS, coverage=None):
    """good/total per step for ``slo``; every other query answers with no data.

    ``coverage``: the recorded slo:period_coverage:seconds of ``slo`` (instant query).
    """
    good_q, total_q = counts_queries(slo, format_duration(STEP))

    def route(path, params):
        if path == "/api/v1/query":
            recorded = params["query"] == promql.recorded(slo, c.RULE_PERIOD_COVERAGE)
            return vector(({}, coverage)) if recorded and coverage is not None else vector()
        assert path == "/api/v1/query_range"
        start, end, step = float(params["start"]), float(params["end"]), float(params["step"][:-1])
        times = [start + i * step for i in range(int((end - start) / step) + 1)]
        if params["query"] == total_q:
            return matrix(({}, [(t, per_step) for t in times]))
        if params["query"] == good_q:
            return matrix(
                ({}, [(t, per_step - bad_steps.get(i, 0.0)) for i, t in enumerate(times)])
            )
        return matrix()

    return route


def _report(fake_prom, slos):
    with Prometheus(fake_prom.url) as prom:
        return build(prom, slos, end=END)


def test_report_numbers(fake_prom, toolkit_slos) -> None:
    availability = toolkit_slos[0]
    fake_prom.route = events_route(availability)
    report = _report(fake_prom, toolkit_slos)
    r = report.slos[0]
    assert r.step == STEP
    assert r.end - r.start == timedelta(days=30)
    assert len(r.sli_points) == 120
    assert r.total == 120_000 and r.good == 119_800
    assert math.isclose(r.sli, 0.99833333, rel_tol=1e-6)
    # 200 bad of 120 allowed (0.1% of 120,000)
    assert math.isclose(r.budget_consumed, 200 / 120)
    assert math.isclose(r.budget_remaining, 1 - 200 / 120)
    assert r.status == "missed"
    assert len(r.violations) == 1
    v = r.violations[0]
    assert v.start == r.start + 10 * STEP and v.end == r.start + 12 * STEP
    assert math.isclose(v.worst_sli, 0.9)
    assert math.isclose(v.budget_spent, 200 / 120)
    assert r.budget_points[0] == (r.start, 1.0)
    assert math.isclose(r.budget_points[-1][1], r.budget_remaining)
    assert any("exhausted" in rec for rec in r.recommendations)
    assert any("postmortem" in rec for rec in r.recommendations)
    # the other SLOs have no data in this fake
    assert [x.status for x in report.slos[1:]] == ["no data", "no data"]
    assert "selectors" in report.slos[1].recommendations[0]


def test_report_healthy_slo_suggests_tightening(fake_prom, toolkit_slos) -> None:
    fake_prom.route = events_route(toolkit_slos[0], bad_steps={})
    r = _report(fake_prom, toolkit_slos[:1]).slos[0]
    assert r.sli == 1.0 and r.status == "met" and r.violations == ()
    assert "tightening" in r.recommendations[0]


def test_markdown(fake_prom, toolkit_slos) -> None:
    fake_prom.route = events_route(toolkit_slos[0])
    text = to_markdown(_report(fake_prom, toolkit_slos))
    assert text.startswith("# SLO report")
    row = next(line for line in text.splitlines() if line.startswith("| tasks-availability"))
    assert row == (
        "| tasks-availability | tasks | 99.90% | 99.833% | missed | 166.7% | -66.7% | 1 | 30d |"
    )
    assert "## tasks-latency" in text and "## model-freshness" in text
    assert "| 2026-10-27 00:00 UTC | 2026-10-27 12:00 UTC | 90.000% | 166.7% |" in text
    assert "full downtime allowed: 43m12s" in text


def test_html_is_self_contained_with_svg_charts(fake_prom, toolkit_slos) -> None:
    fake_prom.route = events_route(toolkit_slos[0])
    page = to_html(_report(fake_prom, toolkit_slos))
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 2 * len(toolkit_slos)
    assert "<polyline" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert "http://" not in page.replace(fake_prom.url, "") and "https://" not in page
    assert '<td class="missed">missed</td>' in page


def test_html_escapes_text(fake_prom, toolkit_slos) -> None:
    from dataclasses import replace

    slo = replace(toolkit_slos[0], description="<script>alert(1)</script>")
    fake_prom.route = events_route(slo)
    page = to_html(_report(fake_prom, [slo]))
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_cli_report_markdown_to_stdout_and_html_to_file(fake_prom, toolkit_slos, toolkit_slos_file,
                                                         tmp_path, capsys) -> None:  # fmt: skip
    fake_prom.route = events_route(toolkit_slos[0])
    base = ["slo", "report", "-f", str(toolkit_slos_file), "--prometheus", fake_prom.url,
            "--end", END.isoformat()]  # fmt: skip
    assert main(base) == 0
    assert "| tasks-availability | tasks | 99.90% | 99.833% |" in capsys.readouterr().out
    out = tmp_path / "report.html"
    assert (
        main([*base, "--format", "html", "--output", str(out), "--slo", "tasks-availability"]) == 0
    )
    assert "wrote" in capsys.readouterr().out
    assert out.read_text().count("<svg") == 2


def test_cli_report_period_override(fake_prom, toolkit_slos_file, capsys) -> None:
    fake_prom.route = lambda path, params: matrix()
    argv = ["slo", "report", "-f", str(toolkit_slos_file), "--prometheus", fake_prom.url,
            "--period", "7d", "--slo", "tasks-latency"]  # fmt: skip
    assert main(argv) == 0
    assert "(7d, steps of 1h24m)" in capsys.readouterr().out


def test_report_says_what_its_figures_cover_and_gives_no_advice_on_hours(
    fake_prom, toolkit_slos
) -> None:
    """Six hours of data in a 30-day report: said, and no "tighten the objective"."""
    avail = toolkit_slos[0]
    fake_prom.route = events_route(avail, bad_steps={}, coverage=6 * 3600.0)
    r = _report(fake_prom, [avail]).slos[0]
    assert r.span == timedelta(hours=6) and r.partial
    assert not any("tightening" in rec for rec in r.recommendations)
    assert any("Only 6h of data" in rec for rec in r.recommendations)
    text = to_markdown(_report(fake_prom, [avail]))
    assert "the data covers only the last 6h" in text
    assert "| 6h |" in text  # the summary's "data covers" column


def test_report_span_from_the_data_without_recorded_coverage(fake_prom, toolkit_slos) -> None:
    avail = toolkit_slos[0]
    route = events_route(avail, bad_steps={})

    def only_last_steps(path, params):
        code, body = route(path, params)
        if path == "/api/v1/query_range":  # data in the last 8 of 120 steps only
            for series in body["data"]["result"]:
                series["values"] = series["values"][-8:]
        return code, body

    fake_prom.route = only_last_steps
    r = _report(fake_prom, [avail]).slos[0]
    assert r.span == 8 * STEP and r.partial


def test_calendar_windows() -> None:
    from slolab.slo.report.analysis import calendar_window

    nov = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)
    assert calendar_window("month", nov) == (datetime(2026, 11, 1, tzinfo=UTC), nov)
    assert calendar_window("quarter", nov) == (datetime(2026, 10, 1, tzinfo=UTC), nov)
    first = datetime(2027, 1, 1, tzinfo=UTC)  # a cron job on the 1st: the period just ended
    assert calendar_window("month", first) == (datetime(2026, 12, 1, tzinfo=UTC), first)
    assert calendar_window("quarter", first) == (datetime(2026, 10, 1, tzinfo=UTC), first)
    import pytest

    with pytest.raises(ValueError, match="not one of"):
        calendar_window("week", nov)


def test_cli_report_calendar_month_spans_the_month(fake_prom, toolkit_slos_file, capsys) -> None:
    fake_prom.route = lambda path, params: matrix()
    argv = ["slo", "report", "-f", str(toolkit_slos_file), "--prometheus", fake_prom.url,
            "--calendar", "month", "--end", "2026-11-01T00:00:00+00:00",
            "--slo", "tasks-latency"]  # fmt: skip
    assert main(argv) == 0
    # October: 31 days, split into 120 steps of 372 minutes exactly
    assert "Period: 2026-10-01 00:00 UTC to 2026-11-01 00:00 UTC (31d, steps of 6h12m)" in (
        capsys.readouterr().out
    )
    assert main([*argv, "--period", "7d"]) == 2


def test_several_periods_a_line_and_a_row_each(fake_prom, toolkit_slos) -> None:
    """`periods: [30d, 7d]`: the week's SLI and budget to the same end, beside the month's."""
    slo = replace(toolkit_slos[0], extra_periods=(timedelta(days=7),))
    outage = (END - timedelta(days=20)).timestamp()  # 10% errors before: in the month only
    week = promql.period_recorded(slo, c.RULE_PERIOD_COVERAGE, timedelta(days=7))

    def route(path, params):
        if path == "/api/v1/query":  # the week's recorded coverage: 2 days
            return vector(({}, 2 * 86400.0)) if params["query"] == week else vector()
        start, end, step = float(params["start"]), float(params["end"]), float(params["step"][:-1])
        good_q, total_q = counts_queries(slo, format_duration(timedelta(seconds=step)))
        times = [start + i * step for i in range(int((end - start) / step) + 1)]
        if params["query"] == total_q:
            return matrix(({}, [(t, 1000.0) for t in times]))
        assert params["query"] == good_q
        return matrix(({}, [(t, 900.0 if t < outage else 1000.0) for t in times]))

    fake_prom.route = route
    (r,) = _report(fake_prom, [slo]).slos
    assert r.status == "missed" and r.end - r.start == timedelta(days=30)
    (w,) = r.periods
    assert (
        w.slo.period == timedelta(days=7)
        and w.end == r.end
        and w.end - w.start == timedelta(days=7)
    )
    assert w.sli == 1.0 and w.status == "met" and w.span == timedelta(days=2) and w.partial
    text = to_markdown(_report(fake_prom, [slo]))
    assert "| tasks-availability (7d) | tasks | 99.90% | 100.000% | met | 0.0% | 100.0% |" in text
    assert (
        "- Over the last 7d (from 2026-11-16 12:00 UTC): SLI 100.000% (met); budget consumed "
        "0.0%, left 100.0%; the data covers only the last 2d" in text
    )
