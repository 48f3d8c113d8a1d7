"""The simulator: synthetic series for each SLI kind, and the shipped rules run by promtool.

The pinned figures are not copied from a run: ``expected_fire`` and
``expected_resolve`` derive them from the Workbook's definition (a window's
error ratio above factor x budget, on both windows of a condition) plus the
evaluation granularity of the generated groups: the alerts and the windows
recorded from raw series every 30s in one group; the long ticket windows a
ratio of the 5-minute aggregates, each recorded at the end of its 5 minutes
and read by the alert at its next evaluation (the alerts' group runs first).
Times are from the outage's start; the outage is (0, duration].
"""

from __future__ import annotations

import math
import shutil
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import pytest

import slolab.slo as slo_pkg
from slolab.slo import conventions as c
from slolab.slo.durations import parse_duration
from slolab.slo.model import SampleSLI, from_spec
from slolab.slo.report.simulation import to_html, to_markdown
from slolab.slo.simulate import (
    SimulationError,
    default_error_ratios,
    simulate,
    workbook_detection,
)
from slolab.slo.spec import parse_spec
from slolab.slo.synthetic import notation, selects, series_labels
from tests.slo.specs import RESOURCE_SLOS

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

ROOT = Path(__file__).resolve().parents[2]
SLOS = {s.name: s for s in slo_pkg.load(ROOT / "slos.yaml")}
EVAL = parse_duration(c.FAST_INTERVAL).total_seconds()
AGGREGATE = parse_duration(c.AGGREGATE_INTERVAL).total_seconds()
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool")


def _conditions(slo, alert):
    return [x for p in slo.alert_policies if p.alert == alert for x in p.conditions]


def _bad_share(lo: float, hi: float, duration: float) -> float:
    """Share of (lo, hi] inside the outage (0, duration]."""
    return max(min(hi, duration) - max(lo, 0.0), 0.0) / (hi - lo)


def _samples(lo: float, hi: float, every: float, duration: float) -> tuple[int, int]:
    """(all, bad) samples every ``every`` s in [lo, hi], both ends included (Prometheus 2)."""
    times = [lo + k * every for k in range(round((hi - lo) / every) + 1)]
    return len(times), sum(0 < t <= duration for t in times)


def window_ratio(slo, window: timedelta, t: float, ratio: float, duration: float) -> float:
    """The error ratio ``window`` holds when the alert is evaluated at ``t``.

    Sample SLIs are modelled for full outages (ratio 1): one recorded 0/1
    sample per evaluation, each bad inside the outage.
    """
    w = window.total_seconds()
    sample = isinstance(slo.sli, SampleSLI)
    if not slo.from_aggregates(window):  # recorded from raw series earlier in the group
        if sample:
            total, bad = _samples(t - w, t, EVAL, duration)
            return bad / total
        return ratio * _bad_share(t - w, t, duration)
    # Aggregates recorded at multiples of 5m before t (this evaluation's not yet
    # written), the window's left end included; each covers the 5m before it.
    ends = [k * AGGREGATE for k in range(math.ceil((t - w) / AGGREGATE), math.ceil(t / AGGREGATE))]
    if sample:
        counts = [_samples(end - AGGREGATE, end, EVAL, duration) for end in ends]
        return sum(b for _, b in counts) / sum(n for n, _ in counts)
    return ratio * sum(_bad_share(end - AGGREGATE, end, duration) for end in ends) / len(ends)


def _holds(slo, alert, t, ratio, duration) -> bool:
    return any(
        window_ratio(slo, x.short, t, ratio, duration) > x.factor * slo.error_budget
        and window_ratio(slo, x.long, t, ratio, duration) > x.factor * slo.error_budget
        for x in _conditions(slo, alert)
    )


def _firing(slo, alert, ratio, duration) -> list[float]:
    """Evaluations (every 30s) at which ``alert`` fires, until every window is clean."""
    longest = max(w.total_seconds() for w in slo.windows)
    steps = int((duration + longest + 2 * AGGREGATE) / EVAL)
    return [k * EVAL for k in range(1, steps) if _holds(slo, alert, k * EVAL, ratio, duration)]


def expected_fire(slo, alert, ratio, duration):
    firing = _firing(slo, alert, ratio, duration)
    return firing[0] if firing else None


def expected_resolve(slo, alert, ratio, duration):
    """From the outage's end to the first evaluation after the last firing one."""
    firing = _firing(slo, alert, ratio, duration)
    return firing[-1] + EVAL - duration if firing else None


def test_workbook_formula_worked_example():
    slo = SLOS["tasks-availability"]
    # 100% errors on 99.9% over 1h at 14.4x: 14.4 x 0.001 x 3600 s = 51.84 s
    assert workbook_detection(slo, "SLOErrorBudgetBurnPage", 1.0) == timedelta(seconds=51.84)
    # the ticket's 1d window at 3x: 3 x 0.001 x 86400 s = 259.2 s
    assert workbook_detection(slo, "SLOErrorBudgetBurnTicket", 1.0) == timedelta(seconds=259.2)
    # 0.5% burns at 5x: under both page thresholds (14.4x, 6x)
    assert workbook_detection(slo, "SLOErrorBudgetBurnPage", 0.005) is None
    assert default_error_ratios(slo)[-1] == 0.002 and 0.001 not in default_error_ratios(slo)


def test_promtool_notation_runs_and_gaps():
    values = [Fraction(v) if v is not None else None for v in (0, 1, 2, 3, None, None, 5, 5, 5)]
    assert notation(values) == "0+1x3 _ _x1 5x2"
    assert notation([Fraction(1, 2), Fraction(1)]) == "0.5+0.5x1"


def test_labels_satisfy_regexes_and_avoid_the_other_selector():
    errors = 'm{job="tasks", path=~"/api/tasks.*", status=~"5.."}'
    total = 'm{job="tasks", path=~"/api/tasks.*"}'
    want = {"job": "tasks", "path": "/api/tasks", "status": "500"}
    assert series_labels([errors, total]) == ("m", want)
    name, rest = series_labels([total], errors)
    assert name == "m" and rest["job"] == "tasks" and rest.get("status", "") != "500"
    with pytest.raises(SimulationError, match="different metrics"):
        series_labels(["a", "b"])


def test_selects_matches_as_prometheus_does():
    sel = 'm{job="tasks", status=~"5.."}'
    assert selects(sel, "m", {"job": "tasks", "status": "500", "extra": "x"})
    assert not selects(sel, "m", {"job": "tasks", "status": "5000"})  # regexes are anchored
    assert not selects(sel, "n", {"job": "tasks", "status": "500"})
    assert selects('m{status!~"5.."}', "m", {"job": "tasks"})  # a missing label is ""


def test_a_threshold_on_an_expression_is_refused_with_the_reason():
    text = """
version: 1
slos:
  - name: cpu
    service: s
    description: d
    owner: o
    sli: {threshold: {expr: 'rate(process_cpu_seconds_total{job="s"}[1m])', op: "<", value: 0.8}}
    objective: 99
    period: 1d
    review: {last_review: 2026-01-01}
"""
    slo = from_spec(parse_spec(text))[0]
    with pytest.raises(SimulationError, match="plain series selector"):
        simulate(slo, [1.0], timedelta(minutes=10))


def _assert_pinned(slo, ratios, duration):
    sim = simulate(slo, ratios, duration)
    seconds = duration.total_seconds()
    for row in sim.rows:
        for t in row.alerts:
            fire = expected_fire(slo, t.alert, row.error_ratio, seconds)
            if fire is None:
                assert t.fires_after is None, (row.error_ratio, t)
                continue
            assert t.fires_after == timedelta(seconds=fire), (row.error_ratio, t)
            assert t.workbook is not None and t.workbook <= t.fires_after
            resolved = expected_resolve(slo, t.alert, row.error_ratio, seconds)
            assert t.resolved_after == timedelta(seconds=resolved), (row.error_ratio, t)
        period = slo.period.total_seconds()
        assert row.budget_consumed == pytest.approx(
            row.error_ratio * seconds / (slo.error_budget * period)
        )
    return sim


@needs_promtool
@pytest.mark.slow
def test_pinned_table_for_one_day_ratio_slo():
    # 99%/1d: page on 14.4x over 2m/1m or 6x over 12m/1m; ticket 3x 48m/4m or 1x 2h24m/12m
    sim = _assert_pinned(SLOS["tasks-error-rate"], [1.0, 0.1, 0.05, 0.02], timedelta(minutes=30))
    page, ticket = sim.rows[0].alerts
    assert page.fires_after == timedelta(seconds=30)  # Workbook 17.28 s
    # Workbook 86.4 s; the 48m window reads the aggregates: the first bad one is
    # recorded at 5m and read at the next evaluation
    assert ticket.fires_after == timedelta(minutes=5, seconds=30)
    table = to_markdown(sim)
    assert "| 100% | 100x | 30s | 17.3s | +1m | 5m30s | 1m26s | +12m | 208.3% |" in table


@needs_promtool
@pytest.mark.slow
def test_pinned_good_over_total_and_dropped_page_condition():
    # predictor-accuracy (85%, good/total on two metrics): only the 6x page pair exists.
    _assert_pinned(SLOS["predictor-accuracy"], [1.0, 0.95], timedelta(minutes=20))


@needs_promtool
@pytest.mark.slow
def test_pinned_sample_slo_full_outage():
    slo = SLOS["model-freshness"]
    sim = _assert_pinned(slo, [1.0], timedelta(minutes=30))
    assert sim.rows[0].alerts[0].resolved_after == timedelta(seconds=90)  # 1m window: 3 samples


@needs_promtool
@pytest.mark.slow
def test_pinned_thirty_day_slo_matches_the_workbook_example():
    sim = _assert_pinned(SLOS["tasks-availability"], [1.0], timedelta(hours=1))
    page, ticket = sim.rows[0].alerts
    assert page.fires_after == timedelta(seconds=60)  # the Workbook's 51.8 s
    assert page.resolved_after == timedelta(minutes=30)  # the 30m window's reset
    assert ticket.fires_after == timedelta(minutes=5, seconds=30)  # Workbook 259.2 s, as above
    assert ticket.resolved_after == timedelta(hours=6)
    assert f"{sim.rows[0].budget_consumed:.4f}" == "1.3889"  # 1h of a 43.2 min budget
    page_html = to_html([sim])
    assert "<svg" in page_html and "SLOErrorBudgetBurnPage" in page_html


@needs_promtool
@pytest.mark.slow
def test_cli_simulate_markdown_and_html(tmp_path, capsys):
    from slolab.cli import main

    argv = ["slo", "simulate", "-f", str(ROOT / "slos.yaml"), "--slo", "tasks-error-rate",
            "--error-ratio", "100%", "--duration", "10m"]  # fmt: skip
    assert main(argv) == 0
    assert "| 100% | 100x | 30s | 17.3s |" in capsys.readouterr().out
    assert main([*argv, "--budget"]) == 0
    assert "breach after" in capsys.readouterr().out
    out = tmp_path / "sim.html"
    assert main([*argv, "--format", "html", "-o", str(out)]) == 0
    assert out.read_text().count("<svg") == 1
    with pytest.raises(SystemExit) as exc:
        main([*argv[:-4], "--error-ratio", "0"])
    assert exc.value.code == 2
    assert "each error ratio must be in (0, 1]" in capsys.readouterr().err


def _budget_expected(slo, ratio: float, duration: float) -> dict[str, float | None]:
    """When each budget alert fires: the first aggregate after which budget left crosses it.

    A whole clean period precedes the outage (starting on an aggregate's boundary),
    so after k bad aggregates the period error ratio is ratio x k x 5m / period.
    """
    from slolab.slo.generate.alerts import budget_thresholds

    step = parse_duration(c.AGGREGATE_INTERVAL).total_seconds()
    period = slo.period.total_seconds()
    thresholds = budget_thresholds(slo)
    breach = thresholds[c.ALERT_BREACH]
    out: dict[str, float | None] = dict.fromkeys(thresholds)
    for k in range(1, int(duration // step) + 1):
        left = 1 - ratio * k * step / (slo.error_budget * period)
        if out[c.ALERT_BREACH] is None and left <= breach:
            out[c.ALERT_BREACH] = k * step
        low = thresholds.get(c.ALERT_BUDGET_LOW)
        if low is not None and out[c.ALERT_BUDGET_LOW] is None and breach < left <= low:
            out[c.ALERT_BUDGET_LOW] = k * step
    return out


@needs_promtool
@pytest.mark.slow
def test_budget_alerts_after_a_whole_clean_period():
    # tasks-error-rate (99%, 1d): 14m24s of a full outage spends the budget; Low at 25% left.
    slo = SLOS["tasks-error-rate"]
    duration = timedelta(minutes=30)
    sim = simulate(slo, [1.0, 0.5, 0.1], duration, budget_alerts=True)
    for row in sim.rows:
        timings = {t.alert: t for t in row.alerts}
        assert set(timings) == {c.ALERT_PAGE, c.ALERT_TICKET, c.ALERT_BUDGET_LOW, c.ALERT_BREACH}
        for alert, fire in _budget_expected(slo, row.error_ratio, 1800).items():
            got = timings[alert]
            assert got.fires_after == (None if fire is None else timedelta(seconds=fire)), (
                row.error_ratio, got)  # fmt: skip
            assert got.workbook is not None
            if fire is not None:  # at the first aggregate after the formula's instant
                assert got.workbook <= got.fires_after < got.workbook + timedelta(minutes=5)
    half = {t.alert: t for t in sim.rows[1].alerts}
    # 50%: Low at 25m (formula 21m36s), Breach at 30m (28m48s), which ends Low
    assert half[c.ALERT_BUDGET_LOW].fires_after == timedelta(minutes=25)
    assert half[c.ALERT_BUDGET_LOW].resolved_after == timedelta(0)
    assert half[c.ALERT_BREACH].resolved_after is None  # until the outage leaves the day
    table = to_markdown(sim)
    assert "breach (formula)" in table and "| 15m | 14m24s | ~1d |" in table
    assert "whole clean period" in table


@needs_promtool
@pytest.mark.slow
def test_memory_and_cpu_slis_simulate():
    cpu, memory = from_spec(parse_spec(RESOURCE_SLOS))
    # memory reads one gauge sample per evaluation, like freshness: the same pins
    _assert_pinned(memory, [1.0], timedelta(minutes=20))
    # CPU is a rate over 1m: the first bad evaluation needs part of that window hot
    page, ticket = simulate(cpu, [1.0], timedelta(minutes=20)).rows[0].alerts
    assert timedelta(seconds=30) <= page.fires_after <= timedelta(minutes=2)
    assert page.resolved_after is not None and ticket.fires_after is not None


@needs_promtool
@pytest.mark.slow
def test_low_traffic_pages_without_min_events_and_not_with_it():
    # tasks-error-rate (99%, 1d): page pairs over 2m/10s and 12m/1m, ticket pairs over
    # 48m/4m and 2h24m/12m. At 10 requests an hour (one every 6 minutes) a 30-minute
    # outage fails the requests it meets; the first comes 6 minutes in and pages.
    slo, night = SLOS["tasks-error-rate"], 10 / 3600
    plain = simulate(slo, [1.0], timedelta(minutes=30), rate=night, min_events=0)
    guarded = simulate(slo, [1.0], timedelta(minutes=30), rate=night, min_events=20)
    (plain_page, plain_ticket), (page, ticket) = plain.rows[0].alerts, guarded.rows[0].alerts
    assert plain_page.fires_after == timedelta(minutes=6)
    # 20 events in a long window: the page windows hold 2 at most, so no page; the
    # 2h24m ticket window holds 24, so the ticket still fires, when it does without
    assert page.fires_after is None and page.firing_evaluations == 0
    assert ticket.fires_after == plain_ticket.fires_after is not None
    assert guarded.slo.min_events == 20 and plain.slo.min_events is None
    table = to_markdown(guarded)
    assert "clean traffic of 10/h (whole events)" in table
    assert "Burn alerts need 20 events in their long window" in table
    assert "| 100% | 100x | — | 17.3s | — | 10m30s |" in table
    # By day the same minimum changes nothing: the page of steady traffic
    day = simulate(slo, [1.0], timedelta(minutes=30), rate=10.0, min_events=20)
    assert day.rows[0].alerts[0].fires_after == timedelta(seconds=30)


@needs_promtool
@pytest.mark.slow
def test_cli_simulate_rate_and_min_events(capsys):
    from slolab.cli import main

    argv = ["slo", "simulate", "-f", str(ROOT / "slos.yaml"), "--slo", "tasks-error-rate",
            "--error-ratio", "1", "--duration", "30m", "--rate", "10/h"]  # fmt: skip
    assert main([*argv, "--min-events", "20"]) == 0
    assert "| 100% | 100x | — | 17.3s | — |" in capsys.readouterr().out
    assert main(argv) == 0
    assert "| 100% | 100x | 6m | 17.3s | +1m |" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main([*argv[:-1], "0/s"])
    assert exc.value.code == 2
    assert "the rate must be above zero" in capsys.readouterr().err


def test_rate_is_for_request_slis_and_min_events_not_negative():
    with pytest.raises(SimulationError, match="counts samples, not requests"):
        simulate(SLOS["model-freshness"], [1.0], timedelta(minutes=10), rate=1.0)
    with pytest.raises(SimulationError, match="must be 0 \\(none\\) or more"):
        simulate(SLOS["tasks-error-rate"], [1.0], timedelta(minutes=10), min_events=-1)
