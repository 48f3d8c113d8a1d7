"""One task creation is ONE trace across both services, received by a real OTLP endpoint."""

import json
import time
import urllib.request
from pathlib import Path

import pytest

from tests.otlp_sink import OTLPSink
from tests.reliability.services import run_service

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

SERVER, CLIENT = 2, 3  # span kinds in the OTLP protobuf


def tracing_env(sink: OTLPSink, **extra: str) -> dict[str, str]:
    return {
        "OTEL_SDK_DISABLED": "false",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "SLOLAB_TRACE_KEEP_RATIO": "1",  # every trace: this test follows a fast one
        **extra,
    }


def test_task_creation_is_one_trace_across_both_services(tmp_path: Path) -> None:
    with (
        OTLPSink() as sink,
        run_service("predictor", tmp_path, **tracing_env(sink)) as predictor,
        run_service(
            "tasks",
            tmp_path,
            **tracing_env(sink, PREDICTOR_URL=predictor.url, PREDICTOR_TIMEOUT="2"),
        ) as tasks,
    ):
        # urllib, not httpx: other tests may have instrumented httpx in this process,
        # and a traceparent sent by the test would make tasks' span a child.
        req = urllib.request.Request(
            f"{tasks.url}/api/tasks",
            data=json.dumps({"title": "fix the urgent bug"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 201
            assert json.loads(resp.read())["priority"] in {"low", "medium", "high"}

        def spans_of(trace_id: str | None = None) -> list[dict]:
            return [s for s in sink.snapshot() if trace_id is None or s["trace_id"] == trace_id]

        deadline = time.monotonic() + 15
        server = None
        while time.monotonic() < deadline:
            servers = [s for s in spans_of() if s["service"] == "predictor" and s["kind"] == SERVER]
            if servers:
                server = servers[0]
                break
            time.sleep(0.2)
        assert server is not None, f"no predictor server span among {spans_of()}"
        time.sleep(0.5)  # let the tasks side flush its spans of the same trace
        trace = spans_of(server["trace_id"])

    by_id = {s["span_id"]: s for s in trace}
    tasks_root = [s for s in trace if s["service"] == "tasks" and s["kind"] == SERVER]
    clients = [s for s in trace if s["service"] == "tasks" and s["kind"] == CLIENT]
    assert len(tasks_root) == 1, trace
    assert tasks_root[0]["parent_span_id"] == ""  # the trace starts at tasks
    assert "/api/tasks" in tasks_root[0]["name"]
    # tasks' HTTP client span is the parent of the predictor's server span ...
    assert server["parent_span_id"] in {c["span_id"] for c in clients}
    client = by_id[server["parent_span_id"]]
    # ... and sits (directly or through internal spans) under tasks' request span.
    node = client
    while node["parent_span_id"] and node["parent_span_id"] in by_id:
        node = by_id[node["parent_span_id"]]
    assert node is tasks_root[0]
    assert {s["service"] for s in trace} == {"tasks", "predictor"}
