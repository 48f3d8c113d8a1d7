import httpx
from rich.console import Console

from slolab.lab.live import fetch_rows, render_table

SERIES = {
    "slo:objective:ratio": [({"slo": "a", "service": "tasks"}, "0.999")],
    "1 - slo:sli_error:ratio_period": [({"slo": "a", "service": "tasks"}, "0.9995")],
    "slo:period_error_budget_remaining:ratio": [({"slo": "a", "service": "tasks"}, "0.5")],
    "slo:current_burn_rate:ratio": [({"slo": "a", "service": "tasks"}, "20")],
    'ALERTS{alertstate="firing"}': [
        ({"slo": "a", "alertname": "SLOErrorBudgetBurnPage", "severity": "critical"}, "1")
    ],
}


def _prometheus(request: httpx.Request) -> httpx.Response:
    expr = request.url.params["query"]
    result = [{"metric": m, "value": [0, v]} for m, v in SERIES.get(expr, [])]
    return httpx.Response(200, json={"status": "success", "data": {"result": result}})


def test_rows_combine_the_recorded_series_and_firing_alerts():
    with httpx.Client(transport=httpx.MockTransport(_prometheus)) as client:
        (row,) = fetch_rows(client, "http://prom")
    assert (row.slo, row.service, row.objective) == ("a", "tasks", 0.999)
    assert row.sli_period == 0.9995 and row.budget_left == 0.5 and row.burn_rate == 20
    assert abs(row.sli_short - 0.98) < 1e-9  # 1 - 20 x 0.1% budget
    assert row.alerts == ("SLOErrorBudgetBurnPage(critical)",)


def test_table_shows_numbers_and_alerts():
    with httpx.Client(transport=httpx.MockTransport(_prometheus)) as client:
        rows = fetch_rows(client, "http://prom")
    console = Console(width=140, record=True)
    console.print(render_table(rows))
    text = console.export_text()
    for expected in ("99.90%", "99.950%", "98.000%", "50.0%", "20.00x", "SLOErrorBudgetBurnPage"):
        assert expected in text


def test_empty_prometheus_says_why_the_table_is_empty():
    console = Console(width=140, record=True)
    console.print(render_table([]))
    assert "no SLO series yet" in console.export_text()
