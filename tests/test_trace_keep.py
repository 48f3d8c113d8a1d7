"""A task creation's trace is whole at a real OTLP endpoint whenever either service keeps it.

Both services run natively (``slolab serve``) and export to ``OTLPSink``. Each
creation carries a trace id chosen by the test (an incoming ``traceparent``), so
the ratio's verdict on it is known in advance: the creations of the fault rounds
use ids the ratio drops, and only the failure or the slowness can keep them.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from slolab.telemetry import KeepPolicy
from tests.otlp_sink import OTLPSink
from tests.reliability.services import TOKEN, run_service
from tests.test_trace_across_services import CLIENT, SERVER, tracing_env

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CALLER = "b7ad6b7169203331"  # the span id of the test's own (remote) caller
RATIO = KeepPolicy(slow_s=1e9, ratio=0.1)  # the default ratio, alone


def trace_ids(prefix: int, count: int, kept_by_ratio: bool) -> list[str]:
    """``count`` trace ids the default ratio keeps (or drops)."""
    found: list[str] = []
    n = 0
    while len(found) < count:
        tid = (prefix << 96) | (n * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF)
        n += 1
        if RATIO.by_ratio(tid) == kept_by_ratio:
            found.append(format(tid, "032x"))
    return found


def send(url: str, method: str, body: Any = None, **headers: str) -> int:
    # urllib, not httpx: an instrumented httpx in this process would add its own traceparent.
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def create(tasks_url: str, trace_id: str) -> None:
    parent = f"00-{trace_id}-{CALLER}-01"
    status = send(f"{tasks_url}/api/tasks", "POST", {"title": "fix it"}, traceparent=parent)
    assert status == 201  # tasks degrades gracefully whatever the predictor does


def by_trace(sink: OTLPSink) -> dict[str, list[dict[str, Any]]]:
    traces: dict[str, list[dict[str, Any]]] = {}
    for span in sink.snapshot():
        traces.setdefault(span["trace_id"], []).append(span)
    return traces


def wait_whole(sink: OTLPSink, ids: list[str], limit_s: float = 15) -> dict[str, list[Any]]:
    """The spans of ``ids`` once each has three, or what arrived by the deadline."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        traces = by_trace(sink)
        if all(len(traces.get(t, ())) >= 3 for t in ids):
            break
        time.sleep(0.1)
    time.sleep(0.3)  # anything beyond three spans would arrive by now (100 ms schedule)
    traces = by_trace(sink)
    return {t: traces.get(t, []) for t in ids}


def assert_whole(trace_id: str, spans: list[dict[str, Any]]) -> None:
    """tasks SERVER → tasks CLIENT → predictor SERVER, each the parent of the next."""
    kinds = sorted((s["service"], s["kind"]) for s in spans)
    assert kinds == [("predictor", SERVER), ("tasks", SERVER), ("tasks", CLIENT)], (trace_id, spans)
    one = {(s["service"], s["kind"]): s for s in spans}
    root, client, callee = one["tasks", SERVER], one["tasks", CLIENT], one["predictor", SERVER]
    assert root["parent_span_id"] == CALLER, root
    assert client["parent_span_id"] == root["span_id"], (root, client)
    assert callee["parent_span_id"] == client["span_id"], (client, callee)


def test_a_creation_trace_is_whole_when_the_predictor_fails_is_slow_or_the_ratio_keeps_it(
    tmp_path: Path,
) -> None:
    env = {"SLOLAB_TRACE_KEEP_RATIO": "0.1", "PREDICTOR_RETRAIN_INTERVAL_S": "0"}
    caller = {"PREDICTOR_TIMEOUT": "2", **env}  # the slow round is slow, not a timeout
    with (
        OTLPSink() as sink,
        run_service("predictor", tmp_path, **tracing_env(sink, **env)) as predictor,
        run_service(
            "tasks", tmp_path, **tracing_env(sink, PREDICTOR_URL=predictor.url, **caller)
        ) as tasks,
    ):
        faults = f"{predictor.url}/admin/faults"

        # Healthy: the default 10% by trace id, whole; the other 90% not at all.
        kept, dropped = trace_ids(1, 4, True), trace_ids(2, 8, False)
        for tid in kept + dropped:
            create(tasks.url, tid)
        for tid, spans in wait_whole(sink, kept).items():
            assert_whole(tid, spans)
        assert not set(by_trace(sink)) & set(dropped), "a dropped trace left spans behind"

        # The predictor fails: tasks answers 201 without an estimate, yet its side stays.
        assert send(faults, "PUT", {"error_rate": 1.0}, **AUTH) == 200
        failing = trace_ids(3, 5, False)
        for tid in failing:
            create(tasks.url, tid)
        for tid, spans in wait_whole(sink, failing).items():
            assert_whole(tid, spans)
            callee = next(s for s in spans if s["service"] == "predictor")
            client = next(s for s in spans if s["kind"] == CLIENT)
            assert callee["status"] == client["status"] == 2  # ERROR on both sides

        # The predictor is slow (over its 0.2 s threshold) but answers within tasks'
        # timeout: the creation as a whole is not slow for tasks (0.5 s), the callee
        # tells tasks it keeps the trace.
        assert send(faults, "PUT", {"error_rate": 0.0, "latency_ms": 250}, **AUTH) == 200
        slow = trace_ids(4, 3, False)
        for tid in slow:
            create(tasks.url, tid)
        for tid, spans in wait_whole(sink, slow).items():
            assert_whole(tid, spans)
