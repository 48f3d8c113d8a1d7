"""The lean tracing middlewares (slolab.httptrace) and the export decision (TailKeepProcessor)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from flask import Flask
from opentelemetry import baggage, context, propagate, trace
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator, default_setter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    TraceState,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from slolab import httptrace, telemetry
from slolab.httptrace import AsgiTracing, ClientTracing, trace_flask
from slolab.telemetry import SLOW_DEFAULT_S, KeepPolicy, TailKeepProcessor

REPO = Path(__file__).resolve().parents[1]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
SEMCONV = {
    "http.request.method", "url.scheme", "url.path", "http.route", "http.response.status_code",
    "server.address", "server.port", "network.protocol.version", "client.address",
    "user_agent.original",
}  # fmt: skip


def _provider(sampler: Any = None) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler) if sampler else TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _flask(provider: TracerProvider, seen: list[Any]) -> Flask:
    app = Flask(__name__)

    @app.get("/items/<item_id>")
    def item(item_id: str) -> dict[str, str]:
        seen.append(trace.get_current_span().get_span_context())
        return {"id": item_id}

    @app.get("/boom")
    def boom() -> tuple[str, int]:
        return "down", 503

    @app.get("/crash")
    def crash() -> str:
        raise RuntimeError("crashed")

    @app.get("/metrics")
    def metrics() -> str:
        return "scrape"

    trace_flask(app, tracer_provider=provider)
    return app


def test_wsgi_one_server_span_with_the_semantic_convention_attributes() -> None:
    provider, exporter = _provider()
    client = _flask(provider, []).test_client()
    assert client.get("/items/42", headers={"User-Agent": "probe/1"}).status_code == 200
    (span,) = exporter.get_finished_spans()
    assert span.kind is SpanKind.SERVER
    assert span.name == "GET /items/<item_id>"
    assert set(span.attributes) == SEMCONV
    assert span.attributes["http.route"] == "/items/<item_id>"
    assert span.attributes["url.path"] == "/items/42"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["user_agent.original"] == "probe/1"
    assert span.status.status_code is StatusCode.UNSET
    assert span.parent is None


def test_wsgi_failures_are_errors_and_probes_are_not_traced() -> None:
    provider, exporter = _provider()
    client = _flask(provider, []).test_client()
    assert client.get("/boom").status_code == 503
    assert client.get("/crash").status_code == 500
    assert client.get("/metrics").status_code == 200
    assert client.get("/nowhere").status_code == 404
    boom, crash, nowhere = exporter.get_finished_spans()
    assert boom.status.status_code is StatusCode.ERROR and boom.attributes["error.type"] == "503"
    assert crash.status.status_code is StatusCode.ERROR
    assert crash.attributes["http.response.status_code"] == 500
    # A 404 is the client's error; unmatched requests have no route.
    assert nowhere.status.status_code is StatusCode.UNSET and nowhere.name == "GET"
    assert "http.route" not in nowhere.attributes


def test_wsgi_continues_an_incoming_trace_and_skips_unsampled_work() -> None:
    provider, exporter = _provider(ParentBased(ALWAYS_OFF))
    seen: list[Any] = []
    client = _flask(provider, seen).test_client()
    sampled = {"traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
    assert client.get("/items/1", headers=sampled).status_code == 200
    (span,) = exporter.get_finished_spans()
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == PARENT and span.parent.is_remote

    unsampled = {"traceparent": f"00-{TRACE_ID}-{PARENT}-00"}
    assert client.get("/items/2", headers=unsampled).status_code == 200
    assert len(exporter.get_finished_spans()) == 1  # nothing recorded
    # ... but the request still runs in the trace (logs, outgoing calls carry it).
    assert format(seen[-1].trace_id, "032x") == TRACE_ID and not seen[-1].trace_flags.sampled


def _asgi(provider: TracerProvider, seen: list[Any]) -> FastAPI:
    app = FastAPI()

    @app.get("/predict/{kind}")
    async def predict(kind: str) -> dict[str, str]:
        seen.append(trace.get_current_span().get_span_context())
        return {"kind": kind}

    @app.get("/fail")
    async def fail() -> None:
        raise RuntimeError("model gone")

    app.add_middleware(AsgiTracing, tracer_provider=provider)
    return app


def test_asgi_one_server_span_with_route_status_and_parent() -> None:
    from starlette.testclient import TestClient

    provider, exporter = _provider()
    seen: list[Any] = []
    client = TestClient(_asgi(provider, seen), raise_server_exceptions=False)
    headers = {"traceparent": f"00-{TRACE_ID}-{PARENT}-01", "User-Agent": "probe/2"}
    assert client.get("/predict/x", headers=headers).status_code == 200
    assert client.get("/fail").status_code == 500
    ok, failed = exporter.get_finished_spans()
    assert ok.name == "GET /predict/{kind}" and ok.kind is SpanKind.SERVER
    assert set(ok.attributes) == SEMCONV
    assert ok.attributes["http.response.status_code"] == 200
    assert format(ok.parent.span_id, "016x") == PARENT
    assert seen[0].span_id == ok.context.span_id  # the handler runs inside the span
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "RuntimeError"


def test_asgi_ignores_lifespan_and_probes() -> None:
    provider, exporter = _provider()
    calls: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        calls.append(scope["type"])

    mw = AsgiTracing(app, tracer_provider=provider)
    asyncio.run(mw({"type": "lifespan"}, None, None))
    asyncio.run(mw({"type": "http", "path": "/healthz"}, None, None))
    assert calls == ["lifespan", "http"] and exporter.get_finished_spans() == ()


# --- what is exported ---------------------------------------------------------


class _Kept:
    def __init__(self) -> None:
        self.spans: list[Any] = []

    def on_end(self, span: Any) -> None:
        self.spans.append(span)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 0) -> bool:
        return True


def _traced(policy: KeepPolicy, work: Any) -> list[Any]:
    kept = _Kept()
    provider = TracerProvider()
    provider.add_span_processor(TailKeepProcessor(kept, policy))  # type: ignore[arg-type]
    tracer = provider.get_tracer("t")
    work(tracer)
    return kept.spans


def _request(
    status: StatusCode = StatusCode.UNSET,
    seconds: float = 0.0,
    client_status: StatusCode = StatusCode.UNSET,
    client_seconds: float = 0.0,
) -> Any:
    def work(tracer: trace.Tracer) -> None:
        root = tracer.start_span("GET /x", kind=SpanKind.SERVER, start_time=0)
        ctx = trace.set_span_in_context(root)
        client = tracer.start_span("POST", context=ctx, kind=SpanKind.CLIENT, start_time=0)
        client.set_status(client_status)
        client.end(end_time=int(client_seconds * 1e9))
        root.set_status(status)
        root.end(end_time=int(seconds * 1e9))

    return work


def test_failures_and_slow_requests_are_always_exported_with_their_children() -> None:
    never = KeepPolicy(slow_s=0.5, ratio=0.0)
    assert _traced(never, _request()) == []
    failed = _traced(never, _request(StatusCode.ERROR))
    slow = _traced(never, _request(seconds=0.6))
    for spans in (failed, slow):
        assert [s.kind for s in spans] == [SpanKind.CLIENT, SpanKind.SERVER]
        assert spans[0].parent.span_id == spans[1].context.span_id
    assert len(_traced(KeepPolicy(0.5, 1.0), _request())) == 2


@pytest.mark.parametrize(
    "child", [{"client_status": StatusCode.ERROR}, {"client_seconds": 0.6}], ids=["error", "slow"]
)
def test_a_failed_or_slow_span_anywhere_keeps_the_whole_local_trace(child: dict) -> None:
    # The root succeeded fast (tasks degrades gracefully when the predictor fails).
    spans = _traced(KeepPolicy(slow_s=0.5, ratio=0.0), _request(**child))
    assert [s.kind for s in spans] == [SpanKind.CLIENT, SpanKind.SERVER]


def test_a_callee_that_keeps_the_trace_makes_the_caller_keep_its_side() -> None:
    kept = _Kept()
    proc = TailKeepProcessor(kept, KeepPolicy(slow_s=0.5, ratio=0.0))  # type: ignore[arg-type]
    provider = TracerProvider()
    provider.add_span_processor(proc)
    tracer = provider.get_tracer("t")
    root = tracer.start_span("POST /api/tasks", kind=SpanKind.SERVER)
    with tracer.start_as_current_span("POST", trace.set_span_in_context(root), SpanKind.CLIENT):
        proc.keep_trace(root.get_span_context().trace_id)  # traceresponse: sampled
    root.end()
    assert [s.kind for s in kept.spans] == [SpanKind.CLIENT, SpanKind.SERVER]
    assert proc._pending == {}


def test_a_verdict_to_keep_is_a_promise_and_a_verdict_to_drop_is_not() -> None:
    proc = TailKeepProcessor(_Kept(), KeepPolicy(slow_s=0.2, ratio=0.0))  # type: ignore[arg-type]
    assert proc.verdict(7, 0.3, failed=False)  # slow when the answer started ...
    assert proc.verdict(7, 0.0, failed=False)  # ... kept whatever comes after
    assert not proc.verdict(8, 0.1, failed=False) and 8 not in proc._pending
    assert proc.verdict(9, 0.0, failed=True)


@pytest.fixture
def keeper(monkeypatch: pytest.MonkeyPatch) -> TailKeepProcessor:
    """The process's keep decision, as setup_tracing installs it when exporting."""
    proc = TailKeepProcessor(_Kept(), KeepPolicy(slow_s=0.5, ratio=0.0))  # type: ignore[arg-type]
    monkeypatch.setattr(telemetry, "_keeper", proc)
    return proc


def _flags(value: str | None) -> str | None:
    if value is None:
        return None
    version, trace_id, _span_id, flags = value.split("-")
    assert (version, trace_id) == ("00", TRACE_ID)
    return flags


def test_wsgi_tells_a_traced_caller_whether_it_keeps_the_trace(keeper: Any) -> None:
    provider, _ = _provider()
    client = _flask(provider, []).test_client()
    caller = {"traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
    assert _flags(client.get("/items/1", headers=caller).headers.get("traceresponse")) == "00"
    assert _flags(client.get("/boom", headers=caller).headers.get("traceresponse")) == "01"
    # No traced caller, nobody to tell.
    assert "traceresponse" not in client.get("/boom").headers


def test_asgi_tells_a_traced_caller_whether_it_keeps_the_trace(keeper: Any) -> None:
    from starlette.testclient import TestClient

    provider, _ = _provider()
    client = TestClient(_asgi(provider, []), raise_server_exceptions=False)
    caller = {"traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
    assert _flags(client.get("/predict/x", headers=caller).headers.get("traceresponse")) == "00"
    keeper.policy.slow_s = 0.0  # every request is now slow
    assert _flags(client.get("/predict/x", headers=caller).headers.get("traceresponse")) == "01"
    assert "traceresponse" not in client.get("/predict/x").headers


class _CountingKeep(TailKeepProcessor):
    """The keep decision, counting every SDK span started in the process."""

    started = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.started += 1


def test_a_dropped_request_builds_no_sdk_span_but_carries_its_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exported = _Kept()
    keep = _CountingKeep(exported, KeepPolicy(slow_s=0.5, ratio=0.0))  # type: ignore[arg-type]
    provider = TracerProvider()
    provider.add_span_processor(keep)
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)  # the process's
    monkeypatch.setattr(telemetry, "_keeper", keep)
    seen: list[Any] = []
    app = Flask(__name__)

    @app.get("/items/<item_id>")
    def item(item_id: str) -> tuple[dict[str, str], int]:
        seen.append(trace.get_current_span().get_span_context())
        return {"id": item_id}, 503 if item_id == "down" else 200

    trace_flask(app)  # no provider given: the process's, spans only when kept
    client = app.test_client()
    caller = {"traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
    for i in range(10):
        assert client.get(f"/items/{i}").status_code == 200
    assert keep.started == 0 and exported.spans == []  # no span object, no processor
    assert all(c.is_valid and c.trace_flags.sampled for c in seen)  # ids for logs, calls
    assert len({c.trace_id for c in seen}) == 10

    assert client.get("/items/down", headers=caller).status_code == 503
    (span,) = exported.spans
    # Built after the fact with the ids the request ran under, its caller as parent.
    assert span.context.span_id == seen[-1].span_id and span.context.trace_id == seen[-1].trace_id
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == PARENT
    assert span.name == "GET /items/<item_id>" and set(span.attributes) == SEMCONV | {"error.type"}
    assert span.status.status_code is StatusCode.ERROR and span.end_time > span.start_time
    assert keep._pending == {}


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (f"00-{TRACE_ID}-{PARENT}-01", True),
        (f"00-{TRACE_ID.upper()}-{PARENT}-03", True),
        (f"00-{TRACE_ID}-{PARENT}-00", False),
        (f"00-{'1' * 32}-{PARENT}-01", False),  # another trace: not ours to keep
        ("garbage", False),
        (None, False),
    ],
)
def test_the_callee_says_whether_it_keeps_the_trace(value: str | None, kept: bool) -> None:
    assert telemetry.callee_keeps(value, int(TRACE_ID, 16)) is kept


def _calling_app(
    monkeypatch: pytest.MonkeyPatch, callee: Any, policy: KeepPolicy
) -> tuple[Flask, _CountingKeep, _Kept, list[Any]]:
    """A lazily traced Flask app whose route calls ``callee`` (an httpx handler) through
    ``ClientTracing``, with the process's provider and keep decision; and what the
    callee was sent."""
    exported = _Kept()
    keep = _CountingKeep(exported, policy)  # type: ignore[arg-type]
    provider = TracerProvider()
    provider.add_span_processor(keep)
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    monkeypatch.setattr(telemetry, "_keeper", keep)
    sent: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("traceparent"))
        return callee(request)

    http = httpx.Client(
        base_url="http://predictor.test:8082",
        transport=ClientTracing(httpx.MockTransport(handler)),
    )
    app = Flask(__name__)

    @app.post("/api/tasks")
    def create() -> tuple[dict[str, str], int]:
        sent.append(trace.get_current_span().get_span_context())
        with contextlib.suppress(httpx.TimeoutException):  # tasks degrades gracefully
            http.post("/predict", json={})
        return {}, 201

    trace_flask(app)
    return app, keep, exported, sent


def test_a_dropped_call_builds_no_client_span_but_its_traceparent_names_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, keep, exported, sent = _calling_app(
        monkeypatch, lambda r: httpx.Response(200, json={}), KeepPolicy(slow_s=0.5, ratio=0.0)
    )
    client = app.test_client()
    for _ in range(5):
        assert client.post("/api/tasks").status_code == 201
    assert keep.started == 0 and exported.spans == [] and keep._pending == {}
    server, header = sent[-2], sent[-1]
    version, trace_id, span_id, flags = header.split("-")
    assert (version, flags) == ("00", "01") and int(trace_id, 16) == server.trace_id
    assert int(span_id, 16) != server.span_id  # the CLIENT span's own id


def _failing(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={})


def _timing_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("slow", request=request)


def _keeping(request: httpx.Request) -> httpx.Response:
    """A healthy answer whose ``traceresponse`` says the callee keeps the trace."""
    trace_id = request.headers["traceparent"].split("-")[1]
    return httpx.Response(200, json={}, headers={"traceresponse": f"00-{trace_id}-{PARENT}-01"})


@pytest.mark.parametrize("callee", [_failing, _timing_out, _keeping])
def test_a_failed_call_or_a_keeping_callee_keeps_the_whole_local_trace(
    monkeypatch: pytest.MonkeyPatch, callee: Any
) -> None:
    app, keep, exported, sent = _calling_app(monkeypatch, callee, KeepPolicy(0.5, 0.0))
    caller = {"traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
    assert app.test_client().post("/api/tasks", headers=caller).status_code == 201
    server_ids, header = sent
    client_span, server_span = exported.spans
    assert client_span.kind is SpanKind.CLIENT and server_span.kind is SpanKind.SERVER
    # The ids the request ran under and the callee was told: parent links intact.
    assert server_span.context.span_id == server_ids.span_id
    assert format(server_span.parent.span_id, "016x") == PARENT
    assert client_span.parent.span_id == server_span.context.span_id
    assert header == f"00-{TRACE_ID}-{client_span.context.span_id:016x}-01"
    assert client_span.context.trace_id == int(TRACE_ID, 16)
    assert client_span.name == "POST" and client_span.end_time >= client_span.start_time
    attrs = client_span.attributes
    assert attrs["url.full"] == "http://predictor.test:8082/predict"
    assert (attrs["server.address"], attrs["server.port"]) == ("predictor.test", 8082)
    if "http.response.status_code" in attrs and attrs["http.response.status_code"] == 200:
        assert client_span.status.status_code is StatusCode.UNSET
    else:
        assert client_span.status.status_code is StatusCode.ERROR
        assert attrs["error.type"] in {"503", "ReadTimeout"}
    assert server_span.status.status_code is StatusCode.UNSET  # tasks answered 201
    assert keep.started == 0 and keep._pending == {}  # built as finished spans, no SDK span
    # What the exporter needs from it: the OTLP encoder takes the built CLIENT span.
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    assert encode_spans([client_span, server_span]).SerializeToString()


def test_the_ratio_is_decided_by_trace_id_alike_in_every_service() -> None:
    policy = KeepPolicy(slow_s=1.0, ratio=0.25)
    ids = range(1, 1 << 64, (1 << 64) // 4000)
    share = sum(policy.by_ratio(i) for i in ids) / len(ids)
    assert 0.24 < share < 0.26
    twin = KeepPolicy(slow_s=9.0, ratio=0.25)  # another service, another threshold
    assert all(policy.by_ratio(i) == twin.by_ratio(i) for i in ids)


def test_children_without_a_root_are_bounded() -> None:
    kept = _Kept()
    proc = TailKeepProcessor(kept, KeepPolicy(0.5, 1.0), max_pending=10)  # type: ignore[arg-type]
    provider = TracerProvider()
    provider.add_span_processor(proc)
    tracer = provider.get_tracer("t")
    for _ in range(50):  # roots that never end
        root = tracer.start_span("GET /x", kind=SpanKind.SERVER)
        tracer.start_span("child", context=trace.set_span_in_context(root)).end()
    assert len(proc._pending) == 10 and kept.spans == []


@pytest.mark.parametrize("service", ["tasks", "predictor"])
def test_slow_thresholds_are_the_latency_slos(service: str) -> None:
    spec = yaml.safe_load((REPO / "slos.yaml").read_text())
    (slo,) = [s for s in spec["slos"] if s["service"] == service and "latency" in s["sli"]]
    assert SLOW_DEFAULT_S[service] == slo["sli"]["latency"]["threshold_seconds"]


_STATE = TraceState([("vendor", "v1")])


def _parent(remote: bool, sampled: bool) -> Any:
    ids = SpanContext(int(TRACE_ID, 16), int(PARENT, 16), remote, TraceFlags(sampled), _STATE)
    return trace.set_span_in_context(NonRecordingSpan(ids))


PARENTS = {
    "none": None,
    "empty context": context.Context(),
    "invalid span": trace.set_span_in_context(trace.INVALID_SPAN),
    "remote sampled": _parent(True, True),
    "remote unsampled": _parent(True, False),
    "local sampled": _parent(False, True),
    "local unsampled": _parent(False, False),
}


SAMPLERS = ["always_on", "always_off", "parentbased_always_on", "parentbased_always_off"]


@pytest.mark.parametrize("name", [*SAMPLERS, "parentbased_traceidratio"])
@pytest.mark.parametrize("parent", list(PARENTS))
def test_the_ids_carry_the_decision_and_trace_state_the_sdk_sampler_gives(
    monkeypatch: pytest.MonkeyPatch, name: str, parent: str
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", name)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.5")
    provider = TracerProvider()  # the sampler as OTEL_TRACES_SAMPLER makes it
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    for _ in range(20):  # both sides of the ratio
        ids = httptrace._placeholder(PARENTS[parent], "GET").get_span_context()
        sdk = provider.sampler.should_sample(PARENTS[parent], ids.trace_id, "GET", SpanKind.SERVER)
        assert ids.trace_flags.sampled is sdk.decision.is_sampled()
        assert ids.trace_state == (sdk.trace_state or TraceState())
        assert ids.is_valid and not ids.is_remote
        if parent.startswith(("remote", "local")):
            assert format(ids.trace_id, "032x") == TRACE_ID


@pytest.mark.parametrize("name", SAMPLERS)
def test_the_samplers_decided_by_the_parent_alone_are_not_called(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", name)
    provider = TracerProvider()

    def called(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the SDK sampler was called")

    monkeypatch.setattr(provider.sampler, "should_sample", called)
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    for parent in PARENTS.values():  # the fast path is taken for the SDK's own objects
        httptrace._placeholder(parent, "GET")


def test_any_other_sampler_is_called_and_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, int, str, Any]] = []

    class Custom(Sampler):
        def should_sample(
            self, parent_context: Any, trace_id: int, name: str, kind: Any = None, *_: Any
        ) -> SamplingResult:
            calls.append((parent_context, trace_id, name, kind))
            return SamplingResult(Decision.RECORD_AND_SAMPLE, None, _STATE)

        def get_description(self) -> str:
            return "Custom"

    # A sampler that behaves as the default but is not the SDK's object is called too.
    for sampler in (Custom(), ParentBased(ALWAYS_OFF)):
        provider = TracerProvider(sampler=sampler)
        monkeypatch.setattr(trace, "get_tracer_provider", lambda p=provider: p)
        ids = httptrace._placeholder(PARENTS["remote unsampled"], "POST").get_span_context()
        assert not ids.trace_flags.sampled or isinstance(sampler, Custom)
    (call,) = calls
    assert call == (PARENTS["remote unsampled"], int(TRACE_ID, 16), "POST", SpanKind.SERVER)
    provider = TracerProvider(sampler=Custom())
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    ids = httptrace._placeholder(PARENTS["remote unsampled"], "POST").get_span_context()
    assert ids.trace_flags.sampled and ids.trace_state == _STATE  # the custom one's result


def _sent_headers(ctx: Any) -> httpx.Headers:
    """The headers a call through ``ClientTracing`` sends under ``ctx``."""
    sent: list[httpx.Request] = []
    tracing = ClientTracing(httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200)))
    token = context.attach(ctx)
    try:
        httpx.Client(transport=tracing).get("http://predictor.test/predict")
    finally:
        context.detach(token)
    (request,) = sent
    return request.headers


def _injected(ids: SpanContext, ctx: Any) -> dict[str, str]:
    """What ``propagate.inject`` writes for a span with these ids under ``ctx``."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(NonRecordingSpan(ids), ctx))
    return carrier


@pytest.mark.parametrize("case", ["sampled", "unsampled", "trace state", "baggage"])
def test_a_calls_headers_are_what_the_configured_propagators_write(
    monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: TracerProvider())
    state = _STATE if case == "trace state" else TraceState()
    flags = TraceFlags(case != "unsampled")
    ids = SpanContext(int(TRACE_ID, 16), int(PARENT, 16), False, flags, state)
    ctx = trace.set_span_in_context(NonRecordingSpan(ids))
    if case == "baggage":
        ctx = baggage.set_baggage("tenant", "a b", ctx)
    headers = _sent_headers(ctx)
    _, trace_id, span_id, _ = headers["traceparent"].split("-")
    # The CLIENT span's ids: its own span id, its parent's trace, flags and state.
    sent_ids = SpanContext(int(trace_id, 16), int(span_id, 16), False, ids.trace_flags, state)
    expected = _injected(sent_ids, ctx)
    assert {k: headers.get(k) for k in ("traceparent", "tracestate", "baggage")} == {
        k: expected.get(k) for k in ("traceparent", "tracestate", "baggage")
    }
    assert sent_ids.span_id != ids.span_id and sent_ids.trace_id == ids.trace_id
    assert ("tracestate" in headers) is (case == "trace state")
    assert ("baggage" in headers) is (case == "baggage")


def test_any_other_propagator_configuration_writes_the_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class B3Like(TextMapPropagator):
        def inject(self, carrier: Any, context: Any = None, setter: Any = default_setter) -> None:
            span = trace.get_current_span(context).get_span_context()
            setter.set(carrier, "x-b3-traceid", format(span.trace_id, "032x"))

        def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
            return context

        @property
        def fields(self) -> set[str]:
            return {"x-b3-traceid"}

    # The process's default (OTEL_PROPAGATORS unset) is the one written directly.
    assert httptrace._w3c_default(propagate.get_global_textmap())
    assert not httptrace._w3c_default(CompositePropagator([TraceContextTextMapPropagator()]))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: TracerProvider())
    ctx = _parent(remote=False, sampled=True)
    for textmap, names in [
        (B3Like(), {"x-b3-traceid"}),
        (CompositePropagator([B3Like(), TraceContextTextMapPropagator()]),
         {"x-b3-traceid", "traceparent", "tracestate"}),
        (TraceContextTextMapPropagator(), {"traceparent", "tracestate"}),  # no baggage
    ]:  # fmt: skip
        monkeypatch.setattr(propagate, "get_global_textmap", lambda t=textmap: t)
        headers = _sent_headers(ctx)
        assert names <= set(headers) and "baggage" not in headers
        if "traceparent" not in names:
            assert "traceparent" not in headers
