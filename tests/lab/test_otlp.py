"""The lab's OTLP receiver: real exporter batches stored; bad input refused, memory bounded."""

from __future__ import annotations

import gzip
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from slolab.lab.otlp import OTLPReceiver
from slolab.tracestore import TraceQuery, TraceReader

PROTO = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[OTLPReceiver]:
    with OTLPReceiver(tmp_path / "traces.sqlite3", max_batch_bytes=64 * 1024) as r:
        yield r


def _exporter_send(endpoint: str, service: str, *, fail: bool) -> str:
    """Export one SERVER span with a CLIENT child through the real OTLP/HTTP exporter."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces")))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /api/tasks", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.response.status_code", 201)
        with tracer.start_as_current_span("POST", kind=SpanKind.CLIENT) as child:
            if fail:
                child.set_status(Status(StatusCode.ERROR, "503 from the predictor"))
    provider.shutdown()
    return format(root.get_span_context().trace_id, "032x")


def _batch(n: int, pad: int = 0) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "flood"
    spans = rs.scope_spans.add()
    for i in range(n):
        s = spans.spans.add()
        s.trace_id = (i + 1).to_bytes(16, "big")
        s.span_id = (i + 1).to_bytes(8, "big")
        s.name = "x" * pad or f"span {i}"
        s.start_time_unix_nano, s.end_time_unix_nano = 1_000_000, 2_000_000
    return req.SerializeToString()


def test_spans_from_the_real_exporter_are_stored_and_queryable(receiver: OTLPReceiver) -> None:
    ok = _exporter_send(receiver.endpoint, "tasks", fail=False)
    bad = _exporter_send(receiver.endpoint, "tasks", fail=True)
    reader = TraceReader(receiver.store.path)
    assert reader.counts() == {"traces": 2, "spans": 4}
    spans = reader.trace(bad)
    assert [(s["kind"], s["error"]) for s in spans] == [("server", False), ("client", True)]
    assert spans[1]["parent_span_id"] == spans[0]["span_id"]
    assert spans[1]["status_message"] == "503 from the predictor"
    assert spans[0]["attributes"]["http.response.status_code"] == 201
    assert [t["trace_id"] for t in reader.recent(TraceQuery(status="error"))] == [bad]
    assert [t["trace_id"] for t in reader.recent(TraceQuery(status="ok"))] == [ok]
    assert reader.recent(TraceQuery(service="predictor")) == []
    assert reader.recent(TraceQuery(min_ms=10_000)) == []
    assert reader.recent(TraceQuery())[0]["root"] == "tasks: POST /api/tasks"
    metrics = httpx.get(f"{receiver.endpoint}/metrics").text
    assert 'otelcol_receiver_accepted_spans{receiver="otlp",transport="http"} 4.0' in metrics


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\xff\xff\xff\xff garbage", PROTO, 400),
        (gzip.compress(b"\x0a\x05abc"), {**PROTO, "Content-Encoding": "gzip"}, 400),
        (b"not gzip", {**PROTO, "Content-Encoding": "gzip"}, 400),
        (b"{}", {"Content-Type": "application/json"}, 415),
        (_batch(1), {**PROTO, "Content-Encoding": "br"}, 415),
    ],
    ids=["malformed-protobuf", "truncated-protobuf-gzip", "bad-gzip", "json", "brotli"],
)
def test_bad_input_gets_a_4xx_with_a_json_body(
    receiver: OTLPReceiver, body: bytes, headers: dict[str, str], status: int
) -> None:
    resp = httpx.post(f"{receiver.endpoint}/v1/traces", content=body, headers=headers)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert resp.json()["error"]
    assert receiver.counts()["spans"] == 0
    # And the receiver still takes a good batch afterwards.
    good = httpx.post(f"{receiver.endpoint}/v1/traces", content=_batch(2), headers=PROTO)
    assert good.status_code == 200
    ExportTraceServiceResponse.FromString(good.content)
    assert receiver.counts()["spans"] == 2


def test_wrong_paths_and_methods_are_named(receiver: OTLPReceiver) -> None:
    assert httpx.get(f"{receiver.endpoint}/v1/traces").status_code == 405
    assert httpx.delete(f"{receiver.endpoint}/v1/traces").status_code == 405
    wrong = httpx.post(f"{receiver.endpoint}/v1/logs", content=_batch(1), headers=PROTO)
    assert wrong.status_code == 404 and "/v1/traces" in wrong.json()["error"]
    assert httpx.get(f"{receiver.endpoint}/healthz").json()["status"] == "ok"


def test_an_oversized_batch_gets_413_before_its_body_is_read(receiver: OTLPReceiver) -> None:
    big = _batch(1, pad=70 * 1024)
    resp = httpx.post(f"{receiver.endpoint}/v1/traces", content=big, headers=PROTO)
    assert resp.status_code == 413 and "over the limit" in resp.json()["error"]
    # A gzip bomb: small on the wire, over the limit once inflated.
    bomb = gzip.compress(_batch(1, pad=1024 * 1024))
    assert len(bomb) < 64 * 1024
    resp = httpx.post(
        f"{receiver.endpoint}/v1/traces",
        content=bomb,
        headers={**PROTO, "Content-Encoding": "gzip"},
    )
    assert resp.status_code == 413, resp.text
    # A client announcing a huge body is answered at once, not read to the end.
    with socket.create_connection((receiver.host, receiver.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 10000000000\r\n\r\n"
        )
        assert sock.recv(200).startswith(b"HTTP/1.1 413")
    assert receiver.counts()["spans"] == 0


def test_spans_without_valid_ids_are_refused_and_the_rest_kept(receiver: OTLPReceiver) -> None:
    req = ExportTraceServiceRequest.FromString(_batch(3))
    req.resource_spans[0].scope_spans[0].spans[1].trace_id = b"short"
    resp = httpx.post(
        f"{receiver.endpoint}/v1/traces", content=req.SerializeToString(), headers=PROTO
    )
    assert resp.status_code == 200
    assert ExportTraceServiceResponse.FromString(resp.content).partial_success.rejected_spans == 1
    assert receiver.counts()["spans"] == 2


def test_the_store_stays_within_its_bound_and_keeps_the_newest(tmp_path: Path) -> None:
    """A flood of batches: the file and the rows stop growing at the bound."""
    bound = 256 * 1024
    with OTLPReceiver(tmp_path / "t.sqlite3", max_bytes=bound) as r:
        sizes = []
        for round_ in range(20):
            req = ExportTraceServiceRequest.FromString(_batch(50, pad=200))
            for i, s in enumerate(req.resource_spans[0].scope_spans[0].spans):
                s.trace_id = (round_ * 1000 + i + 1).to_bytes(16, "big")
            resp = httpx.post(
                f"{r.endpoint}/v1/traces", content=req.SerializeToString(), headers=PROTO
            )
            assert resp.status_code == 200
            sizes.append(r.store.bytes)
        assert max(sizes) <= bound + 50 * 1024  # at most one batch over before eviction
        assert r.store.evicted_traces > 0
        newest = TraceReader(r.store.path).trace(format(19 * 1000 + 50, "032x"))
        assert len(newest) == 1
        # The per-trace summary the list reads agrees with the spans left after eviction.
        with closing(sqlite3.connect(r.store.path)) as db:
            rows = db.execute("SELECT COUNT(*), COUNT(DISTINCT trace_id) FROM spans")
            spans, traces = rows.fetchone()
        assert TraceReader(r.store.path).counts() == {"traces": traces, "spans": spans}
        # The files stop growing: pages freed by eviction are reused, the log is cut back.
        disk = sum(f.stat().st_size for f in tmp_path.glob("t.sqlite3*"))
        assert disk < 3 * bound, sorted((f.name, f.stat().st_size) for f in tmp_path.iterdir())


def test_a_flood_of_parallel_batches_gets_429_not_unbounded_work(tmp_path: Path) -> None:
    with OTLPReceiver(tmp_path / "t.sqlite3", max_inflight=1) as r:
        gate = threading.Event()
        add = r.store.add

        def slow_add(spans):  # the one slot stays busy until the flood has been answered
            gate.wait(5)
            return add(spans)

        r.store.add = slow_add  # type: ignore[method-assign]
        first = threading.Thread(
            target=httpx.post,
            args=(f"{r.endpoint}/v1/traces",),
            kwargs={"content": _batch(1), "headers": PROTO},
        )
        first.start()
        time.sleep(0.3)
        codes = [
            httpx.post(f"{r.endpoint}/v1/traces", content=_batch(1), headers=PROTO).status_code
            for _ in range(5)
        ]
        gate.set()
        first.join(5)
        assert codes == [429] * 5
        assert (
            'slolab_otlp_rejected_requests_total{reason="busy"} 5.0'
            in httpx.get(f"{r.endpoint}/metrics").text
        )


def test_connections_beyond_the_cap_are_closed_unanswered(tmp_path: Path) -> None:
    with OTLPReceiver(tmp_path / "t.sqlite3", max_connections=4, read_timeout=5) as r:
        held = [socket.create_connection((r.host, r.port)) for _ in range(4)]
        try:
            time.sleep(0.2)
            with socket.create_connection((r.host, r.port), timeout=5) as extra:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                assert extra.recv(100) == b""  # closed by the server
        finally:
            for s in held:
                s.close()
        time.sleep(0.3)
        assert httpx.get(f"{r.endpoint}/healthz").status_code == 200


def test_a_failing_store_is_a_503_the_exporters_retry(receiver: OTLPReceiver, monkeypatch) -> None:
    def full(spans):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(receiver.store, "add", full)
    resp = httpx.post(f"{receiver.endpoint}/v1/traces", content=_batch(1), headers=PROTO)
    assert resp.status_code == 503 and "disk is full" in resp.json()["error"]


def test_the_grafana_trace_panel_reads_series_the_receiver_exports(
    receiver: OTLPReceiver,
) -> None:
    """The panel "Traces received by Jaeger" has data natively (Prometheus job jaeger)."""
    import re

    from slolab.dashboards import panel_queries

    exprs = [e for _, title, e in panel_queries() if title == "Traces received by Jaeger"]
    names = {n for e in exprs for n in re.findall(r"\b(otelcol_[a-z_]+)", e)}
    assert names == {"otelcol_receiver_accepted_spans", "otelcol_receiver_refused_spans"}
    httpx.post(f"{receiver.endpoint}/v1/traces", content=_batch(3), headers=PROTO)
    served = httpx.get(f"{receiver.endpoint}/metrics").text
    for name in names:
        assert re.search(rf"^{name}\{{[^}}]*\}} \d", served, re.M), name
    assert re.search(r"^otelcol_receiver_accepted_spans\{.*\} 3\.0$", served, re.M)
