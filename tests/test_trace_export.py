"""What the real services export to a real OTLP endpoint: one SERVER span per request
with the HTTP semantic-convention attributes, its status and its parent; failed and
slow requests always, the fast rest by ratio (SLOLAB_TRACE_KEEP_RATIO)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.otlp_sink import OTLPSink
from tests.reliability.services import TOKEN, run_service
from tests.services.predictor.conftest import FEATURES
from tests.test_trace_across_services import SERVER, tracing_env

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

ERROR = 2  # span status code in the OTLP protobuf
SEMCONV = {
    "http.request.method", "url.scheme", "url.path", "http.route", "http.response.status_code",
    "server.address", "server.port", "network.protocol.version", "client.address",
    "user_agent.original",
}  # fmt: skip
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"


def call(url: str, method: str = "GET", body: Any = None, **headers: str) -> int:
    # urllib, not httpx: an instrumented httpx in this process would add a traceparent.
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_for(sink: OTLPSink, pred: Any, limit_s: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        found = [s for s in sink.snapshot() if pred(s)]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no such span among {sink.snapshot()}")


def test_failed_and_slow_requests_are_exported_with_semantic_conventions(tmp_path: Path) -> None:
    keep_none = {"SLOLAB_TRACE_KEEP_RATIO": "0"}  # only failed or slow requests
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with (
        OTLPSink() as sink,
        run_service("predictor", tmp_path, **tracing_env(sink, **keep_none)) as predictor,
        run_service("tasks", tmp_path, **tracing_env(sink, **keep_none)) as tasks,
    ):
        # Fast and fine: not exported (but see below: the same service does export).
        assert call(f"{tasks.url}/api/tasks") == 200
        assert call(f"{predictor.url}/predict", "POST", FEATURES) == 200

        # Failed: a 500 from an injected fault, continuing the caller's trace.
        assert call(f"{tasks.url}/admin/faults", "PUT", {"error_rate": 1.0}, **auth) == 200
        parent = f"00-{TRACE_ID}-{PARENT}-01"
        assert (
            call(f"{tasks.url}/api/tasks?limit=5", traceparent=parent, **{"User-Agent": "t/1"})
            == 500
        )
        (failed,) = wait_for(sink, lambda s: s["service"] == "tasks")
        assert failed["kind"] == SERVER and failed["status"] == ERROR
        assert failed["name"] == "GET /api/tasks"
        assert (failed["trace_id"], failed["parent_span_id"]) == (TRACE_ID, PARENT)
        attrs = failed["attributes"]
        assert SEMCONV | {"error.type"} == set(attrs)
        assert attrs["http.response.status_code"] == 500 and attrs["error.type"] == "500"
        assert attrs["url.path"] == "/api/tasks" and attrs["http.route"] == "/api/tasks"
        assert attrs["http.request.method"] == "GET" and attrs["user_agent.original"] == "t/1"
        assert attrs["url.scheme"] == "http" and attrs["client.address"] == "127.0.0.1"

        # Slow: beyond the predictor's latency SLO threshold (0.2 s), yet a 200.
        assert call(f"{predictor.url}/admin/faults", "PUT", {"latency_ms": 300}, **auth) == 200
        assert call(f"{predictor.url}/predict", "POST", FEATURES) == 200
        (slow,) = wait_for(sink, lambda s: s["service"] == "predictor")
        assert slow["name"] == "POST /predict" and slow["status"] == 0
        assert slow["parent_span_id"] == ""  # a root: no traceparent was sent
        assert slow["attributes"]["http.response.status_code"] == 200
        assert set(slow["attributes"]) == SEMCONV
        time.sleep(0.5)  # anything else would have arrived by now (100 ms schedule)
    assert len(sink.snapshot()) == 2, sink.snapshot()
