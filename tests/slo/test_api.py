"""The Python API: the design documents' four roles, and the runnable example in the docs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

import slolab.slo.api as api
from slolab.slo import conventions as c
from slolab.slo.api import ErrorBudgetCalculator, SLITracker, SLOReporter, SLOTrackingSystem
from tests.slo.backfill import backfilled_prometheus, counter, firing, needs_prometheus

ROOT = Path(__file__).resolve().parents[2]
H = 3600.0


def test_everything_importable_from_one_place():
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    assert {"SLITracker", "ErrorBudgetCalculator", "SLOReporter", "SLOTrackingSystem"} <= set(
        api.__all__
    )


def test_error_budget_calculator_with_elapsed_time():
    calc = ErrorBudgetCalculator(99.9, window_days=30)  # a percentage or 0.999: the same
    assert calc.objective == ErrorBudgetCalculator(0.999).objective == 0.999
    assert calc.allowed_error_rate() == 0.001
    assert calc.allowed_downtime() == timedelta(minutes=43, seconds=12)
    assert calc.burn_rate(0.002) == 2.0
    # half the window at half the allowed rate spends a quarter of the budget
    assert calc.remaining_budget(0.0005, 15) == pytest.approx(0.75)
    assert calc.is_budget_exhausted(0.0005, 15) is False
    assert calc.time_to_exhaustion(0.0005, 15) == timedelta(days=45)
    assert calc.is_budget_exhausted(0.002, 15) is True  # 2x for half the window: all of it
    with pytest.raises(ValueError, match="no error budget"):
        ErrorBudgetCalculator(100)


def test_budget_answers_depend_on_the_arguments_only():
    # An earlier call leaves nothing behind: the same question, the same answer.
    calc = ErrorBudgetCalculator(0.999)
    assert calc.is_budget_exhausted(0.0005, 15) is False
    assert calc.remaining_budget(0.01, 30) < 0  # far overspent, asked in between
    assert calc.is_budget_exhausted(0.0005, 15) is False
    with pytest.raises(TypeError):
        calc.is_budget_exhausted()  # type: ignore[call-arg]


def test_two_trackers_live_side_by_side_in_their_own_registries():
    first, second = CollectorRegistry(), CollectorRegistry()
    a = SLITracker("http://127.0.0.1:1", slos=[], registry=first)
    b = SLITracker("http://127.0.0.1:1", slos=[], registry=second)
    a.record_availability(True)
    b.record_availability(False)
    assert first.get_sample_value("app_requests_total", {"outcome": "success"}) == 1
    assert second.get_sample_value("app_requests_total", {"outcome": "error"}) == 1
    assert second.get_sample_value("app_requests_total", {"outcome": "success"}) is None
    with pytest.raises(TypeError):  # no silent global registration
        SLITracker("http://127.0.0.1:1", slos=[])  # type: ignore[call-arg]


def test_sli_tracker_records_prometheus_metrics():
    registry = CollectorRegistry()
    tracker = SLITracker("http://127.0.0.1:1", slos=[], registry=registry, namespace="ml")
    tracker.record_availability(True)
    tracker.record_availability(False)
    tracker.record_latency(0.2)
    tracker.record_accuracy("high", "high")
    tracker.record_accuracy("high", "low")
    value = registry.get_sample_value
    assert value("ml_requests_total", {"outcome": "success"}) == 1
    assert value("ml_requests_total", {"outcome": "error"}) == 1
    assert value("ml_request_duration_seconds_count") == 1
    assert value("ml_predictions_evaluated_total") == 2
    assert value("ml_predictions_correct_total") == 1
    with pytest.raises(ValueError, match="negative"):
        tracker.record_latency(-1)
    tracker.close()


def _series(now: float) -> dict[str, list[tuple[float, float]]]:
    start, step = now - 6 * H, 15.0
    base = 'flask_http_request_duration_seconds_{}{{job="tasks",path="/api/tasks"{}}}'
    outage = lambda t: now - 3 * H <= t < now - 2.5 * H  # noqa: E731
    slo = 'slo="tasks-availability",service="tasks"'
    recorded = [(t, v) for t, v in counter(start, now, 30.0, lambda t: 0.0)]
    return {
        base.format("count", ',status="200"'): counter(start, now, step,
                                                       lambda t: 0.0 if outage(t) else 2.0),
        base.format("count", ',status="500"'): counter(start, now, step,
                                                       lambda t: 2.0 if outage(t) else 0.0),
        # half the requests under 100 ms, all under 500 ms
        base.format("bucket", ',le="0.1"'): counter(start, now, step, lambda t: 1.0),
        base.format("bucket", ',le="0.5"'): counter(start, now, step, lambda t: 2.0),
        base.format("bucket", ',le="+Inf"'): counter(start, now, step, lambda t: 2.0),
        # what the recording rules would have written (status reads these)
        f"{c.RULE_ERROR_RATIO_PERIOD}{{{slo}}}": [(t, 1 / 12) for t, _ in recorded],
        f"{c.RULE_BUDGET_REMAINING}{{{slo}}}": [(t, 1 - (1 / 12) / 0.001) for t, _ in recorded],
        (f'ALERTS{{alertname="{c.ALERT_PAGE}",alertstate="firing",{slo},'
         f'severity="{c.SEVERITY_PAGE}"}}'): firing(now - 3 * H + 60, now - 2 * H),
    }  # fmt: skip


@pytest.fixture(scope="module")
def now() -> float:
    """History up to (about) now: the example asks about "the last hour" as a user would.

    Taken when the module's tests start, not at import: under xdist a module may run
    minutes after collection, and the status reads the latest samples (5 minutes'
    lookback)."""
    return float(int(time.time()) // 60 * 60)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, now):
    with backfilled_prometheus(tmp_path_factory.mktemp("api"), _series(now)) as url:
        yield url


@needs_prometheus
@pytest.mark.slow
def test_tracker_system_and_reporter_on_real_data(prometheus, toolkit_slos, now):
    end = datetime.fromtimestamp(now, UTC)
    with SLITracker(prometheus, slos=toolkit_slos, registry=CollectorRegistry()) as tracker:
        assert tracker.calculate_availability_sli("6h", at=end) == pytest.approx(11 / 12, rel=1e-3)
        assert tracker.calculate_availability_sli("1h", at=end) == pytest.approx(1.0)
        # p95 between the 0.1 s and 0.5 s buckets: 0.1 + 0.4 x (0.95 - 0.5) / 0.5 = 0.46 s
        assert tracker.calculate_latency_sli(95, "1h", at=end) == pytest.approx(460)
    with SLOTrackingSystem(toolkit_slos, prometheus) as system:
        rows = {r["name"]: r for r in system.dashboard_data()}
        row = rows["tasks-availability"]
        assert row["sli"] == pytest.approx(11 / 12) and row["state"] == "violating"
        assert row["policy"] == "freeze" and "time_to_exhaustion_seconds" in row
        assert row["budget_remaining"] == pytest.approx(1 - (1 / 12) / 0.001)
        assert rows["model-freshness"]["state"] == "no data"
        points = system.time_series("tasks-availability", window="6h", step="30m", end=end)
        assert len(points) == 12 and points[-1][0] == end
        worst = min(v for _, v in points if v is not None)
        assert worst == pytest.approx(0.0, abs=0.02)  # the 30 minutes of 5xx
        (incident,) = system.incidents(since="6h", end=end)
        assert incident.slos == ("tasks-availability",)
        assert system.gate().exit_code == 1  # exhausted budget freezes deploys
        trend = {t.slo.name: t for t in system.trends("1h", 6, end)}["tasks-availability"]
        assert len(trend.points) == 6
    with SLOReporter(prometheus, toolkit_slos[:1]) as reporter:
        report = reporter.generate_report(period="6h", end=end)
        data = reporter.summary(report)
        assert data["slos"][0]["status"] == "missed"
        assert data["slos"][0]["sli"] == pytest.approx(11 / 12, rel=1e-3)
        assert [i["slos"] for i in data["incidents"]] == [["tasks-availability"]]
        assert "## Incidents" in reporter.to_markdown(report)


@needs_prometheus
@pytest.mark.slow
def test_the_documented_example_runs(prometheus, toolkit_slos_file):
    env = {**os.environ, "PROMETHEUS_URL": prometheus}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "docs/examples/slo_api.py"), str(toolkit_slos_file)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "budget: 0.001 of requests, 0:43:12 of downtime" in out
    assert "after 15 days at 0.05% errors: 75% left, burn rate 0.5, lasts 45 days" in out
    assert "availability over 1h: 100.0000%, p95 latency: 460 ms" in out
    assert "tasks-availability: state violating" in out
    assert "incident " in out and "report: tasks-availability missed" in out
