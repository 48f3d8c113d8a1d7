"""What the dashboard's JSON says, against a fake Prometheus (the live page: tests/e2e)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from slolab.slo.query import Prometheus
from slolab.web.data import DashboardSettings, alert_timeline, iso, slow_requests
from tests.slo.fake_prometheus import matrix, success

NOW = 1_795_000_000.0
STEP = 30.0  # 6 h / 720 points


def test_alert_timeline_splits_spans_and_marks_the_one_still_firing(fake_prom) -> None:
    page = {"alertname": "SLOErrorBudgetBurnPage", "slo": "a", "severity": "critical"}
    earlier = [(NOW - 3000 + i * STEP, 1) for i in range(10)]  # resolved
    current = [(NOW - 600 + i * STEP, 1) for i in range(21)]  # up to now
    fake_prom.route = lambda path, params: matrix((page, earlier + current))
    with Prometheus(fake_prom.url) as prom:
        spans = alert_timeline(prom, timedelta(hours=6), now=NOW)
    assert [(s["start"], s["end"]) for s in spans] == [
        (iso(NOW - 600), None),
        (iso(NOW - 3000), iso(NOW - 3000 + 9 * STEP)),
    ]
    assert spans[0]["slo"] == "a" and spans[0]["severity"] == "critical"


def test_slow_requests_keep_exemplars_above_the_threshold_with_trace_links(
    fake_prom, toolkit_slos
) -> None:
    def route(path, params):
        assert path == "/api/v1/query_exemplars"
        series = {"__name__": "flask_http_request_duration_seconds_bucket", "path": "/api/tasks"}
        return success([{"seriesLabels": series, "exemplars": [
            {"labels": {"trace_id": "ab" * 16}, "value": "0.9", "timestamp": NOW - 5},
            {"labels": {"trace_id": "cd" * 16}, "value": "0.1", "timestamp": NOW - 4},
            {"labels": {}, "value": "3.0", "timestamp": NOW - 3},
        ]}])  # fmt: skip

    fake_prom.route = route
    settings = DashboardSettings(jaeger_url="http://jaeger:16686/")
    latency = [s for s in toolkit_slos if s.sli.kind == "latency"]
    with Prometheus(fake_prom.url) as prom:
        rows = slow_requests(prom, latency, settings, now=NOW)
    assert [r["trace_id"] for r in rows] == ["ab" * 16]  # 0.1 s is fast, no id: no row
    assert rows[0]["link"] == f"http://jaeger:16686/trace/{'ab' * 16}"
    assert rows[0]["seconds"] == 0.9 and rows[0]["endpoint"] == "/api/tasks"
    # With the lab's trace store instead of Jaeger, the link opens the dashboard's own view.
    with Prometheus(fake_prom.url) as prom:
        own = slow_requests(prom, latency, DashboardSettings(trace_view=True), now=NOW)
    assert own[0]["link"] == f"traces#{'ab' * 16}"


def test_an_slo_with_several_periods_lists_each_further_one(fake_prom, toolkit_slos) -> None:
    """`periods: [30d, 7d]`: the row's record carries the 7d figures (a row of the page)."""
    from dataclasses import replace

    from slolab.slo import conventions as c
    from slolab.web.data import state
    from tests.slo.fake_prometheus import alerts, vector

    slo = replace(toolkit_slos[0], extra_periods=(timedelta(days=7),))
    week = {"slo": slo.name, c.LABEL_WINDOW: "7d"}

    def route(path, params):
        if path == "/api/v1/alerts":
            return alerts({"labels": {"alertname": c.ALERT_BREACH, **week}})
        if path == "/api/v1/query" and "slo:sli_error:ratio_rate" in params["query"]:
            return vector(
                ({"__name__": c.RULE_BUDGET_REMAINING, "slo": slo.name}, 0.5),
                ({"__name__": c.RULE_BUDGET_REMAINING, **week}, -0.25),
            )
        if path.endswith("query_exemplars"):
            return success([])
        return matrix() if path.endswith("query_range") else vector()

    fake_prom.route = route
    with Prometheus(fake_prom.url) as prom:
        first, plain = state(prom, [slo, toolkit_slos[1]], DashboardSettings())["slos"]
    assert first["budget_remaining"] == 0.5 and first["alerts"] == []
    (period,) = first["periods"]
    assert period["window"] == "7d" and period["period"] == "7d"
    assert period["budget_remaining"] == -0.25 and period["alerts"] == [c.ALERT_BREACH]
    assert "periods" not in plain  # an SLO of one period: the record as before


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_chromium_draws_a_row_per_period(fake_prom, toolkit_slos) -> None:
    """The page itself: the 7d row under its SLO, with its own budget and alert."""
    from dataclasses import replace

    from slolab.slo import conventions as c
    from slolab.web.app import create_app
    from tests.browser import chromium_page
    from tests.slo.fake_prometheus import alerts, vector
    from tests.web.serving import served

    slo = replace(toolkit_slos[0], extra_periods=(timedelta(days=7),))
    week = {"slo": slo.name, "service": "tasks", c.LABEL_WINDOW: "7d"}

    def route(path, params):
        if path == "/api/v1/alerts":
            return alerts({"labels": {"alertname": c.ALERT_BREACH, **week}})
        if path == "/api/v1/query" and "slo:sli_error:ratio_rate" in params["query"]:
            return vector(
                ({"__name__": c.RULE_BUDGET_REMAINING, "slo": slo.name}, 0.5),
                ({"__name__": c.RULE_BUDGET_REMAINING, **week}, -0.25),
            )
        return matrix() if path.endswith("query_range") else vector()

    fake_prom.route = route
    with served(create_app([slo], fake_prom.url, timeout=5)) as url, chromium_page() as page:
        page.goto(url)
        page.wait_for_selector('#slo-table tr[data-window="7d"]', timeout=20_000)
        rows = page.eval_on_selector_all(
            "#slo-table tbody tr", "rows => rows.map(r => r.innerText)"
        )
    first, week_row = rows
    assert first.startswith(slo.name) and "50.0%" in first and c.ALERT_BREACH not in first
    assert week_row.startswith(f"{slo.name} (7d)") and "-25.0%" in week_row
    assert c.ALERT_BREACH in week_row
