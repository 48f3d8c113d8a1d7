"""The simulator: synthetic series for each SLI kind, and the shipped rules run by promtool.

The pinned figures are not copied from a run: ``expected_fire`` and
``expected_resolve`` derive them from the SRE Workbook's formula plus the
evaluation granularity (rules every 30s; a window recorded in the slow group
is read one evaluation late, since promtool runs the groups in order).
"""

from __future__ import annotations

import math
import shutil
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import pytest

import slolab.slo as slo_pkg
from slolab.slo.durations import parse_duration
from slolab.slo.model import from_spec
from slolab.slo.simulate import (
    SimulationError,
    _labels,
    _notation,
    default_error_ratios,
    simulate,
    to_html,
    to_markdown,
    workbook_detection,
)
from slolab.slo.spec import parse_spec

ROOT = Path(__file__).resolve().parents[2]
SLOS = {s.name: s for s in slo_pkg.load(ROOT / "slos.yaml")}
EVAL = 30.0
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool")


def _conditions(slo, alert):
    return [x for p in slo.alert_policies if p.alert == alert for x in p.conditions]


def _first_eval_after(seconds: float) -> float:
    return (math.floor(seconds / EVAL + 1e-9) + 1) * EVAL


def expected_fire(slo, alert, ratio):
    """Workbook detection time, moved to the evaluation that first sees it."""
    best = None
    for cond in _conditions(slo, alert):
        threshold = cond.factor * slo.error_budget
        if ratio <= threshold:
            continue
        t = _first_eval_after(threshold * parse_duration(cond.long).total_seconds() / ratio)
        t += EVAL if slo.is_slow_window(cond.long) else 0
        best = t if best is None else min(best, t)
    return best


def expected_resolve(slo, alert, ratio, duration):
    """After the outage: each window's ratio falls as the bad minutes leave it."""
    latest = None
    for cond in _conditions(slo, alert):
        threshold = cond.factor * slo.error_budget
        stops = []
        for window in (cond.short, cond.long):
            w = parse_duration(window).total_seconds()
            if ratio * min(duration, w) / w <= threshold:
                break  # this condition does not hold when the outage ends
            stop = _first_eval_after(w - threshold * w / ratio)
            stops.append(stop + (EVAL if slo.is_slow_window(window) else 0))
        else:
            latest = min(stops) if latest is None else max(latest, min(stops))
    return latest


def expected_resolve_samples(slo, alert, duration):
    """A sample SLI after a full outage: whole 30s samples leave each window, ends included."""

    def ratio(window: str, t: float) -> float:  # outage (0, duration], time t
        w = parse_duration(window).total_seconds()
        t -= EVAL if slo.is_slow_window(window) else 0
        grid = [t - w + k * EVAL for k in range(int(w / EVAL) + 1)]
        return sum(0 < s <= duration for s in grid) / len(grid)

    t = duration
    while any(
        ratio(x.short, t) > x.factor * slo.error_budget
        and ratio(x.long, t) > x.factor * slo.error_budget
        for x in _conditions(slo, alert)
    ):
        t += EVAL
    return t - duration


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
    assert _notation(values) == "0+1x3 _ _x1 5x2"
    assert _notation([Fraction(1, 2), Fraction(1)]) == "0.5+0.5x1"


def test_labels_satisfy_regexes_and_avoid_the_other_selector():
    errors = 'm{job="tasks", path=~"/api/tasks.*", status=~"5.."}'
    total = 'm{job="tasks", path=~"/api/tasks.*"}'
    want = {"job": "tasks", "path": "/api/tasks", "status": "500"}
    assert _labels([errors, total]) == ("m", want)
    name, rest = _labels([total], errors)
    assert name == "m" and rest["job"] == "tasks" and rest.get("status", "") != "500"
    with pytest.raises(SimulationError, match="different metrics"):
        _labels(["a", "b"])


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


def _assert_pinned(slo, ratios, duration, resolve=expected_resolve):
    sim = simulate(slo, ratios, duration)
    seconds = duration.total_seconds()
    for row in sim.rows:
        for t in row.alerts:
            fire = expected_fire(slo, t.alert, row.error_ratio)
            if fire is None or fire > seconds + EVAL:
                assert t.fires_after is None, (row.error_ratio, t)
                continue
            assert t.fires_after == timedelta(seconds=fire), (row.error_ratio, t)
            assert t.workbook is not None and t.workbook <= t.fires_after
            resolved = resolve(slo, t.alert, row.error_ratio, seconds)
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
    assert ticket.fires_after == timedelta(minutes=2)  # 86.4 s, 48m window in the slow group
    table = to_markdown(sim)
    assert "| 100% | 100x | 30 s | 17.3 s | +60 s | 2m | 86.4 s | +12m | 208.3% |" in table


@needs_promtool
@pytest.mark.slow
def test_pinned_good_over_total_and_dropped_page_condition():
    # predictor-accuracy (85%, good/total on two metrics): only the 6x page pair exists.
    _assert_pinned(SLOS["predictor-accuracy"], [1.0, 0.95], timedelta(minutes=20))


@needs_promtool
@pytest.mark.slow
def test_pinned_sample_slo_full_outage():
    slo = SLOS["model-freshness"]
    sim = _assert_pinned(slo, [1.0], timedelta(minutes=30),
                         lambda s, a, r, d: expected_resolve_samples(s, a, d))  # fmt: skip
    assert sim.rows[0].alerts[0].resolved_after == timedelta(seconds=90)  # 1m window: 3 samples


@needs_promtool
@pytest.mark.slow
def test_pinned_thirty_day_slo_matches_the_workbook_example():
    sim = _assert_pinned(SLOS["tasks-availability"], [1.0], timedelta(hours=1))
    page, ticket = sim.rows[0].alerts
    assert page.fires_after == timedelta(seconds=60)  # the Workbook's 51.8 s
    assert page.resolved_after == timedelta(minutes=30)  # the 30m window's reset
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
    assert "| 100% | 100x | 30 s | 17.3 s |" in capsys.readouterr().out
    out = tmp_path / "sim.html"
    assert main([*argv, "--format", "html", "-o", str(out)]) == 0
    assert out.read_text().count("<svg") == 1
    with pytest.raises(SystemExit) as exc:
        main([*argv[:-4], "--error-ratio", "0"])
    assert exc.value.code == 2
    assert "each error ratio must be in (0, 1]" in capsys.readouterr().err


RESOURCES = """
version: 1
slos:
  - name: tasks-memory
    service: tasks
    description: Under 512 MiB.
    owner: o
    sli: {memory: {selector: 'process_resident_memory_bytes{job="tasks"}', max_bytes: 536870912}}
    objective: 99
    period: 1d
    review: {last_review: 2026-11-26}
  - name: tasks-cpu
    service: tasks
    description: Under 0.8 cores.
    owner: o
    sli: {cpu: {selector: 'process_cpu_seconds_total{job="tasks"}', max_cores: 0.8}}
    objective: 99
    period: 1d
    review: {last_review: 2026-11-26}
"""


@needs_promtool
@pytest.mark.slow
def test_memory_and_cpu_slis_simulate():
    memory, cpu = from_spec(parse_spec(RESOURCES))
    # memory reads one gauge sample per evaluation, like freshness: the same pins
    _assert_pinned(memory, [1.0], timedelta(minutes=20),
                   lambda s, a, r, d: expected_resolve_samples(s, a, d))  # fmt: skip
    # CPU is a rate over 1m: the first bad evaluation needs part of that window hot
    page, ticket = simulate(cpu, [1.0], timedelta(minutes=20)).rows[0].alerts
    assert timedelta(seconds=30) <= page.fires_after <= timedelta(minutes=2)
    assert page.resolved_after is not None and ticket.fires_after is not None
