"""The Prometheus client and SLI queries, against a fake Prometheus API on a free port."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import promql_parser
import pytest

from slolab.slo import query as q
from tests.slo.fake_prometheus import alerts, error, matrix, success, vector


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the with-block ends


def test_url_from_argument_then_environment_then_default(monkeypatch) -> None:
    monkeypatch.delenv(q.ENV_URL, raising=False)
    assert q.prometheus_url() == "http://127.0.0.1:9090"
    monkeypatch.setenv(q.ENV_URL, "http://prom:9090/")
    assert q.prometheus_url() == "http://prom:9090"
    assert q.prometheus_url("http://other:1/") == "http://other:1"


def test_instant_query_parses_vector_and_nan(fake_prom) -> None:
    fake_prom.route = lambda path, params: vector(
        ({"slo": "a"}, 0.25), ({"slo": "b"}, float("nan"))
    )
    with q.Prometheus(fake_prom.url) as prom:
        samples = prom.query("up", at=datetime(2026, 11, 23, tzinfo=UTC))
    assert [(dict(s.labels), s.value) for s in samples] == [
        ({"slo": "a"}, 0.25),
        ({"slo": "b"}, None),
    ]
    path, params = fake_prom.requests[0]
    assert path == "/api/v1/query"
    assert params["query"] == "up"
    assert float(params["time"]) == datetime(2026, 11, 23, tzinfo=UTC).timestamp()


def test_scalar_answer(fake_prom) -> None:
    fake_prom.route = lambda path, params: success({"resultType": "scalar", "result": [1.0, "42"]})
    with q.Prometheus(fake_prom.url) as prom:
        assert prom.value("scalar(42)") == 42.0


def test_range_query_passes_start_end_step(fake_prom) -> None:
    fake_prom.route = lambda path, params: matrix(({"x": "1"}, [(100, 1.0), (160, 0.5)]))
    with q.Prometheus(fake_prom.url) as prom:
        series = prom.query_range("up", 100.0, 160.0, timedelta(minutes=1))
    assert series[0].points == ((100.0, 1.0), (160.0, 0.5))
    path, params = fake_prom.requests[0]
    assert path == "/api/v1/query_range"
    assert (params["start"], params["end"], params["step"]) == ("100.0", "160.0", "60s")


def test_value_empty_is_none_and_require_value_explains(fake_prom) -> None:
    fake_prom.route = lambda path, params: vector()
    with q.Prometheus(fake_prom.url) as prom:
        assert prom.value("nothing") is None
        with pytest.raises(q.NoDataError, match=r"no data for nothing: the selector matches no"):
            prom.require_value("nothing")


def test_value_refuses_several_series(fake_prom) -> None:
    fake_prom.route = lambda path, params: vector(({"a": "1"}, 1.0), ({"a": "2"}, 2.0))
    with q.Prometheus(fake_prom.url) as prom, pytest.raises(q.PrometheusError, match=r"sum\(\)"):
        prom.value("x")


def test_prometheus_error_payload_is_reported_with_type_and_query(fake_prom) -> None:
    fake_prom.route = lambda path, params: error(
        "bad_data", 'invalid parameter "query": 1:5: parse error: unexpected "}"'
    )
    with q.Prometheus(fake_prom.url) as prom, pytest.raises(q.PrometheusError) as info:
        prom.query("up{}}")
    message = str(info.value)
    assert "refused the query: bad_data: invalid parameter" in message
    assert "(query: up{}})" in message


def test_execution_error_422(fake_prom) -> None:
    fake_prom.route = lambda path, params: error("execution", "query timed out", status=422)
    with q.Prometheus(fake_prom.url) as prom, pytest.raises(q.PrometheusError, match="execution"):
        prom.query("up")


def test_http_error_without_json(fake_prom) -> None:
    fake_prom.route = lambda path, params: (502, "Bad Gateway from the proxy")
    with q.Prometheus(fake_prom.url) as prom, pytest.raises(q.PrometheusError) as info:
        prom.query("up")
    assert "HTTP 502" in str(info.value)
    assert "Bad Gateway" in str(info.value)


def test_unexpected_json(fake_prom) -> None:
    fake_prom.route = lambda path, params: (200, {"hello": "world"})
    with q.Prometheus(fake_prom.url) as prom, pytest.raises(q.PrometheusError, match="unexpected"):
        prom.query("up")


def test_connection_refused_names_the_url_and_how_to_change_it() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with q.Prometheus(url, timeout=2) as prom, pytest.raises(q.PrometheusError) as info:
        prom.query("up")
    message = str(info.value)
    assert f"cannot reach Prometheus at {url}: connection refused" in message
    assert "PROMETHEUS_URL" in message


def test_timeout_is_reported(fake_prom) -> None:
    def slow(path, params):
        time.sleep(1.0)
        return vector()

    fake_prom.route = slow
    with q.Prometheus(fake_prom.url, timeout=0.2) as prom, pytest.raises(q.PrometheusError) as info:
        prom.query("up")
    assert "did not answer within 0.2s" in str(info.value)


def test_alerts(fake_prom) -> None:
    fake_prom.route = lambda path, params: alerts(
        {"labels": {"alertname": "SLOErrorBudgetBurnPage", "slo": "a", "severity": "critical"}},
        {"labels": {"alertname": "Other"}, "state": "pending"},
    )
    with q.Prometheus(fake_prom.url) as prom:
        got = prom.alerts()
    assert fake_prom.requests[0][0] == "/api/v1/alerts"
    assert [(a.name, a.state, a.labels.get("slo")) for a in got] == [
        ("SLOErrorBudgetBurnPage", "firing", "a"),
        ("Other", "pending", None),
    ]


# --- SLI queries --------------------------------------------------------------


@pytest.mark.parametrize("window", ["5m", "1h", "30d"])
def test_sli_queries_are_valid_promql_for_every_kind(toolkit_slos, window: str) -> None:
    for slo in toolkit_slos:
        promql_parser.parse(q.sli_query(slo, window))
        for expr in q.counts_queries(slo, window):
            promql_parser.parse(expr)
            assert f"[{window}" in expr


def test_freshness_counts_use_a_subquery_not_the_recorded_series(toolkit_slos) -> None:
    fresh = next(s for s in toolkit_slos if s.sli.kind == "freshness")
    good, total = q.counts_queries(fresh, "1d")
    assert "slo:sli_good_sample:bool" not in good + total
    assert "model_last_trained_timestamp_seconds" in good
    assert "[1d:]" in total


def test_sli_over_a_window_asks_prometheus_and_returns_the_value(fake_prom, toolkit_slos):
    availability = toolkit_slos[0]
    fake_prom.route = lambda path, params: vector(({}, 0.9985))
    with q.Prometheus(fake_prom.url) as prom:
        assert q.sli(prom, availability, "1h") == 0.9985
    sent = fake_prom.queries()[0]
    assert sent == q.sli_query(availability, "1h")
    assert 'status=~"5.."' in sent
    assert "[1h]" in sent


def test_latency_quantile_query(fake_prom, toolkit_slos) -> None:
    latency = toolkit_slos[1]
    expr = q.latency_quantile_query(latency, 0.95, "1h")
    assert expr == (
        "histogram_quantile(0.95, sum by (le) "
        '(rate(flask_http_request_duration_seconds_bucket{job="tasks"}[1h])))'
    )
    promql_parser.parse(expr)
    fake_prom.route = lambda path, params: vector(({}, 0.123))
    with q.Prometheus(fake_prom.url) as prom:
        assert q.latency_quantile(prom, latency, 0.95, "1h") == 0.123


@pytest.mark.parametrize(
    ("index", "quantile", "window", "message"),
    [
        (0, 0.95, "1h", "not a latency histogram"),
        (1, 1.5, "1h", "quantile: 1.5"),
        (1, 0.95, "an hour", "not a duration"),
    ],
)
def test_latency_quantile_bad_input(toolkit_slos, index, quantile, window, message) -> None:
    with pytest.raises(ValueError, match=message):
        q.latency_quantile_query(toolkit_slos[index], quantile, window)
