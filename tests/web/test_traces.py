"""The dashboard's trace view: list filters, one trace, bad ids as 4xx JSON, Jaeger instead."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from slolab.tracestore import STATUS_ERROR, Span, TraceStore
from slolab.web.app import create_app

T0 = 1_765_000_000 * 10**9
OK, FAILED = "11" * 16, "22" * 16


def _span(trace: str, n: int, parent: int | None, service: str, kind: int, ms: float, **kw):
    return Span(
        trace_id=trace, span_id=f"{n:016x}", parent_span_id=f"{parent:016x}" if parent else "",
        service=service, name=kw.pop("name", f"span {n}"), kind=kind,
        start_ns=T0 + n * 1000, end_ns=T0 + n * 1000 + int(ms * 1e6), status=kw.pop("status", 0),
        **kw,
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Path:
    db = tmp_path / "traces.sqlite3"
    s = TraceStore(db)
    s.add([_span(OK, 1, None, "tasks", 2, 3.0, name="GET /api/tasks")])
    s.add(
        [
            _span(FAILED, 2, None, "tasks", 2, 40.0, name="POST /api/tasks",
                  attributes={"http.response.status_code": 201}),
            _span(FAILED, 3, 2, "tasks", 3, 30.0, name="POST", status=STATUS_ERROR),
            _span(FAILED, 4, 3, "predictor", 2, 20.0, name="POST /predict", status=STATUS_ERROR,
                  status_message="fault: error_rate",
                  events=({"name": "exception", "time_ns": T0,
                           "attributes": {"exception.message": "boom"}},)),
        ]
    )  # fmt: skip
    s.close()
    return db


def _client(toolkit_slos, **kw) -> TestClient:
    return TestClient(create_app(toolkit_slos, "http://127.0.0.1:1", timeout=1, **kw))


def test_recent_traces_filtered_by_service_status_and_duration(toolkit_slos, store) -> None:
    with _client(toolkit_slos, traces_db=store) as client:

        def ids(**params) -> list[str]:
            resp = client.get("/api/traces", params=params)
            assert resp.status_code == 200, resp.text
            return [t["trace_id"] for t in resp.json()["traces"]]

        assert ids() == [FAILED, OK]  # newest first
        assert ids(service="predictor") == [FAILED]
        assert ids(status="error") == [FAILED] and ids(status="ok") == [OK]
        assert ids(min_ms=10) == [FAILED] and ids(max_ms=10) == [OK]
        body = client.get("/api/traces").json()
        assert body["stored"] == {"traces": 2, "spans": 4}
        row = body["traces"][0]
        assert row["root"] == "tasks: POST /api/tasks" and row["errors"] == 2
        assert row["services"] == ["predictor", "tasks"] and row["duration_ms"] == 40.0
        assert client.get("/api/traces/count").json()["stored"]["traces"] == 2
        page = client.get("/traces")
        assert page.status_code == 200 and "static/traces.js" in page.text
        assert client.get("/static/traces.js").status_code == 200


def test_one_trace_has_every_span_with_timings_attributes_and_errors(toolkit_slos, store) -> None:
    with _client(toolkit_slos, traces_db=store) as client:
        spans = client.get(f"/api/traces/{FAILED.upper()}").json()["spans"]
    assert [(s["service"], s["kind"], s["error"]) for s in spans] == [
        ("tasks", "server", False), ("tasks", "client", True), ("predictor", "server", True),
    ]  # fmt: skip
    assert spans[2]["parent_span_id"] == spans[1]["span_id"]
    assert spans[0]["attributes"] == {"http.response.status_code": 201}
    assert spans[2]["status_message"] == "fault: error_rate"
    assert spans[2]["events"][0]["attributes"] == {"exception.message": "boom"}
    assert spans[2]["duration_ms"] == 20.0


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/api/traces/not-a-trace", 400, "not a trace id"),
        (f"/api/traces/{'33' * 16}", 404, "not in the store"),
        ("/api/traces?status=broken", 422, "status"),
        ("/api/traces?min_ms=-1", 422, "min_ms"),
        ("/api/traces?limit=100000", 422, "limit"),
    ],
)
def test_bad_requests_are_4xx_with_a_json_reason(toolkit_slos, store, path, status, says) -> None:
    with _client(toolkit_slos, traces_db=store) as client:
        resp = client.get(path)
    assert resp.status_code == status
    assert says in resp.text


def test_a_store_not_written_yet_is_empty_not_an_error(toolkit_slos, tmp_path) -> None:
    with _client(toolkit_slos, traces_db=tmp_path / "none.sqlite3") as client:
        body = client.get("/api/traces").json()
    assert body == {"traces": [], "stored": {"traces": 0, "spans": 0}}


def test_without_a_store_the_view_points_at_jaeger(toolkit_slos) -> None:
    from slolab.web.data import DashboardSettings

    settings = DashboardSettings(jaeger_url="http://127.0.0.1:16686")
    with _client(toolkit_slos, settings=settings) as client:
        resp = client.get(f"/api/traces/{OK}")
    assert resp.status_code == 404 and resp.json()["jaeger_url"] == "http://127.0.0.1:16686"
