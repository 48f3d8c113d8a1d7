"""What a kept span costs to export: the process's resource hashed once, not per span.

The OTLP encoder groups the spans of a batch by resource in a dict; the SDK's
``Resource.__hash__`` JSON-dumps every attribute on each call. The services'
resource (``slolab.telemetry.service_resource``) hashes once and must stay a
``Resource`` in every other way: equal, mergeable, serialised, encoded to the
same bytes.

Our top-down encoder (``slolab.otlp``) must write the library's bytes for every
shape of span the library encodes, and reach the wire through the real exporter in
the lean mode only (the official mode, the benchmarks' anchor, keeps the library's).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from flask import Flask
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk import resources
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from slolab import otlp, telemetry
from slolab.httptrace import ClientTracing, trace_flask
from slolab.telemetry import KeepPolicy, TailKeepProcessor

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> TracerProvider:
    """``setup_tracing``'s provider, installed for this test only (the API installs a
    global provider once per process): the resource the services run with."""
    installed: list[Any] = []
    for var in (
        "OTEL_SDK_DISABLED", "SLOLAB_INSTRUMENTATION", "SLOLAB_TRACING", "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(telemetry, "_provider", None)
    monkeypatch.setattr(telemetry, "_keeper", None)
    monkeypatch.setattr(telemetry, "_clients_instrumented", True)  # no process-wide hooks
    monkeypatch.setattr(trace, "set_tracer_provider", installed.append)
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: installed[-1])
    made = telemetry.setup_tracing("tasks")
    assert made is not None and installed == [made]
    return made


def _dumps_counted(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every JSON dump the SDK's resources module makes from now on (its hash is one)."""
    dumped: list[object] = []
    real = resources.dumps

    def counted(*args: Any, **kwargs: Any) -> str:
        dumped.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(resources, "dumps", counted)
    return dumped


def _kept_spans(provider: TracerProvider, monkeypatch: pytest.MonkeyPatch) -> list[ReadableSpan]:
    """The spans tasks exports for creations whose predictor call answers, fails, times
    out, and one that crashes: made by the lean tracing, every trace kept."""

    class Kept:
        spans: list[ReadableSpan] = []

        def on_end(self, span: ReadableSpan) -> None:
            self.spans.append(span)

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 0) -> bool:
            return True

    keep = TailKeepProcessor(Kept(), KeepPolicy(slow_s=0.5, ratio=1.0))  # type: ignore[arg-type]
    provider.add_span_processor(keep)
    monkeypatch.setattr(telemetry, "_keeper", keep)
    answers: list[Callable[[httpx.Request], httpx.Response]] = [
        lambda r: httpx.Response(200, json={}),
        lambda r: httpx.Response(503, json={}),
    ]

    def timing_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    answers.append(timing_out)
    calls = iter(answers)
    http = httpx.Client(
        base_url="http://predictor.test:8082",
        transport=ClientTracing(httpx.MockTransport(lambda r: next(calls)(r))),
    )
    app = Flask(__name__)

    @app.post("/api/tasks")
    def create() -> tuple[dict[str, str], int]:
        with contextlib.suppress(httpx.TimeoutException):
            http.post("/predict", json={})
        return {}, 201

    @app.get("/crash")
    def crash() -> str:
        raise RuntimeError("crashed")

    trace_flask(app)
    client = app.test_client()
    for headers in ({}, {"traceparent": TRACEPARENT}, {}):
        assert client.post("/api/tasks", headers=headers).status_code == 201
    assert client.get("/crash").status_code == 500
    return Kept.spans


def test_the_services_resource_is_hashed_once_not_per_exported_span(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    spans = _kept_spans(provider, monkeypatch)
    assert len(spans) == 7 and all(s.resource is provider.resource for s in spans)
    dumped = _dumps_counted(monkeypatch)
    (grouped,) = encode_spans(spans * 10).resource_spans  # one resource: one group
    assert sum(len(scope.spans) for scope in grouped.scope_spans) == 70
    assert dumped == []  # the SDK's own Resource: one dump of all its attributes per span
    # Also once the SDK has merged it again, as it does in a forked child.
    provider._handle_fork()  # what os.register_at_fork runs in the child
    merged = provider.resource.merge(Resource({"deployment.environment.name": "test"}))
    dumped.clear()  # each hashed once, when made
    for _ in range(10):
        assert len({provider.resource, merged}) == 2
    assert dumped == []
    assert merged.attributes["service.name"] == "tasks"


def test_the_services_resource_is_a_resource_in_every_other_way(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, sdk = provider.resource, Resource.create({"service.name": "tasks"})
    assert isinstance(ours, Resource) and ours.attributes["service.name"] == "tasks"
    assert ours == sdk and sdk == ours and hash(ours) == hash(sdk)
    assert {sdk: "found"}[ours] == "found" and {ours: "found"}[sdk] == "found"
    assert ours.to_json() == sdk.to_json() and ours.schema_url == sdk.schema_url == ""
    update = Resource({"deployment.environment.name": "test"}, "https://opentelemetry.io/s/1")
    merged = ours.merge(update)
    assert merged == sdk.merge(update) and merged.schema_url == update.schema_url
    assert ours.merge(Resource({}, "https://a")).merge(Resource({}, "https://b")).schema_url == (
        "https://a"  # a schema conflict keeps the first, as the SDK's merge does
    )
    # The SDK's own settings still make it.
    monkeypatch.setenv("OTEL_SERVICE_NAME", "tasks-canary")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=lab")
    canary = telemetry.service_resource("tasks")
    assert canary.attributes["service.name"] == "tasks-canary"
    assert canary.attributes["deployment.environment.name"] == "lab"


def _with_resource(span: ReadableSpan, resource: Resource) -> ReadableSpan:
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=resource,
        attributes=span.attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def test_kept_spans_encode_to_the_same_bytes_as_with_the_sdks_resource(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    spans = _kept_spans(provider, monkeypatch)
    kinds = [s.kind for s in spans]
    assert kinds.count(SpanKind.CLIENT) == 3 and kinds.count(SpanKind.SERVER) == 4
    assert sum(s.status.status_code is StatusCode.ERROR for s in spans) == 3
    assert any(s.events for s in spans)  # the crash's and the timeout's exception events
    before = [_with_resource(s, Resource.create({"service.name": "tasks"})) for s in spans]
    assert type(before[0].resource) is Resource
    encoded = encode_spans(spans).SerializeToString()
    assert encoded == encode_spans(before).SerializeToString()
    (group,) = encode_spans(spans).resource_spans
    names = {kv.key: kv.value.string_value for kv in group.resource.attributes}
    assert names["service.name"] == "tasks" and names["telemetry.sdk.language"] == "python"


# Our top-down encoder (slolab.otlp) against the library's, byte for byte.

REMOTE = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, True, TraceFlags(1))
LOCAL = SpanContext(
    0x0AF7651916CD43DD8448EB211C80319C,
    0x00F067AA0BA902B7,
    False,
    TraceFlags(1),
    TraceState([("vendor", "a=1"), ("other", "b")]),
)
EVERY_TYPE: dict[str, Any] = {
    "str": "s", "empty": "", "int": -(2**63), "bool": True, "float": 0.25, "bytes": b"\x00\xff",
    "none": None, "strs": ("a", "b"), "ints": [1, 2, 3], "empty-seq": [],
    "nested": [[1, "x"], {"k": [True, None]}, b"y"], "mapping": {"a": 1, 2: {"b": 2.5}},
    "empty-map": {}, "bytearray": bytearray(b"ab"),
    "bad": object(), "bad-nested": [1, [2, object()]], "too-big": 2**64, "after-bad": "kept",
}  # fmt: skip


def _bounded(items: tuple[Any, ...], maxlen: int) -> BoundedList:
    """A span's events or links over its limit: the oldest dropped and counted."""
    bounded = BoundedList(maxlen)
    bounded.extend(items)
    return bounded


def _varied_spans(kept: list[ReadableSpan]) -> list[ReadableSpan]:
    """The lean tracing's kept spans, and spans of every shape the library encodes."""
    first, again = Resource.create({"service.name": "a"}), Resource.create({"service.name": "a"})
    other = Resource({"service.name": "b", "list": ["x"]}, "https://opentelemetry.io/schemas/1.2")
    scopes = [
        InstrumentationScope("lib", "1.0", "https://scope/schema", {"scope.attr": 1}),
        InstrumentationScope("lib", "1.0", "https://scope/schema", {"scope.attr": 1}),  # equal
        InstrumentationScope("bare"),
        None,
    ]
    limited = BoundedAttributes(maxlen=2, attributes={"a": 1, "b": 2, "c": 3})
    events = _bounded(
        (
            Event("plain", timestamp=5),
            Event("exception", {"exception.type": "E", "n": [1, 2]}, timestamp=6),
            Event("limited", limited, timestamp=7),
        ),
        maxlen=2,
    )
    links = _bounded(
        (
            Link(REMOTE, {"link": "remote"}),
            Link(LOCAL, BoundedAttributes(maxlen=1, attributes={"x": 1, "y": 2})),
            Link(REMOTE),
        ),
        maxlen=2,
    )
    statuses = [
        Status(StatusCode.ERROR, "boom: ünïcode"),
        Status(StatusCode.ERROR),
        Status(StatusCode.OK),
        Status(StatusCode.UNSET),
    ]
    made = []
    for i, (resource, scope, parent, status, kind) in enumerate(
        zip(
            [first, other, again, first, other, again, first, first],
            scopes * 2,
            [REMOTE, LOCAL, None, REMOTE, None, LOCAL, REMOTE, None],
            statuses * 2,
            list(SpanKind) + list(SpanKind)[:3],
            strict=True,
        )
    ):
        made.append(
            ReadableSpan(
                name=f"span {i}",
                context=SpanContext(
                    LOCAL.trace_id,
                    0x100 + i,
                    False,
                    TraceFlags(1),
                    LOCAL.trace_state if i % 2 else None,
                ),
                parent=parent,
                resource=resource,
                attributes=EVERY_TYPE if i < 2 else (limited if i == 2 else {"i": i}),
                events=events if i % 3 == 0 else (),
                links=links if i % 3 == 1 else (),
                kind=kind,
                status=status,
                start_time=1_700_000_000_000_000_000 + i,
                end_time=None if i == 7 else 1_700_000_000_000_000_500 + i,
                instrumentation_scope=scope,
            )
        )
    # the SDK's own spans too (its attribute checks, its events and links)
    tracer = TracerProvider(resource=other).get_tracer("sdk", "2.0", "https://sdk/schema")
    with tracer.start_as_current_span("sdk parent", kind=SpanKind.SERVER) as parent_span:
        with tracer.start_as_current_span("sdk child", links=[Link(REMOTE)]) as child:
            child.set_attributes({"k": "v", "seq": [1.5, 2.5]})
            child.add_event("e", {"x": True})
            child.set_status(Status(StatusCode.ERROR, "child failed"))
        parent_span.record_exception(ValueError("no"))
    made.extend([child, parent_span])  # type: ignore[list-item]
    return kept + made


def test_our_encoder_writes_the_librarys_bytes(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spans = _varied_spans(_kept_spans(provider, monkeypatch))
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        theirs = encode_spans(spans)
        logged_theirs = [r.getMessage() for r in caplog.records]
        caplog.clear()
        ours = otlp.encode_spans(spans)
        logged_ours = [r.getMessage() for r in caplog.records]
    assert ours.SerializeToString() == theirs.SerializeToString()
    assert ours == theirs
    # the same shape the bytes say: resources and scopes grouped, the bad keys left out
    assert [len(g.scope_spans) for g in ours.resource_spans] == [1, 3, 2]  # tasks, a, b
    keys = [kv.key for kv in ours.resource_spans[1].scope_spans[0].spans[0].attributes]
    assert "bad" not in keys and "too-big" not in keys and "bad-nested" not in keys
    assert keys[-1] == "after-bad" and "nested" in keys and "none" in keys
    assert len(logged_ours) == len(logged_theirs) == 6  # two spans, three bad keys each
    assert all(line.startswith("Failed to encode key") for line in logged_ours)
    flags = {s.name: s.flags for g in ours.resource_spans for ss in g.scope_spans for s in ss.spans}
    assert flags["span 0"] == 0x300 and flags["span 1"] == 0x100 and flags["span 2"] == 0x100
    # and every span kept, none twice
    assert sum(len(ss.spans) for g in ours.resource_spans for ss in g.scope_spans) == len(spans)


def test_the_lean_mode_exports_with_ours_and_the_official_one_with_the_librarys() -> None:
    """What the plug relies on (slolab.otlp.use_for_export): a library upgrade that
    stops ``export`` reading its module's ``encode_spans`` fails here, loudly."""
    from opentelemetry.exporter.otlp.proto.common import trace_encoder
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    assert trace_exporter.encode_spans in (trace_encoder.encode_spans, otlp.encode_spans)
    assert "encode_spans" in trace_exporter.OTLPSpanExporter.export.__code__.co_names
    try:
        otlp.use_for_export(True)
        assert trace_exporter.encode_spans is otlp.encode_spans
        otlp.use_for_export(False)
        assert trace_exporter.encode_spans is trace_encoder.encode_spans
    finally:
        otlp.use_for_export(False)


def test_setup_tracing_plugs_ours_in_the_lean_mode_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.proto.common import trace_encoder
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # never posted to
    monkeypatch.setattr(telemetry, "_clients_instrumented", True)  # no process-wide hooks
    installed: list[Any] = []  # not the process's global provider: this test's own
    monkeypatch.setattr(trace, "set_tracer_provider", installed.append)
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: installed[-1])
    monkeypatch.setattr(telemetry, "_keeper", None)
    try:
        for mode, expected in (
            ("lean", otlp.encode_spans),
            ("official", trace_encoder.encode_spans),
        ):
            monkeypatch.setenv("SLOLAB_TRACING", mode)
            monkeypatch.setattr(telemetry, "_provider", None)
            made = telemetry.setup_tracing("tasks")
            assert made is not None and made is installed[-1]
            made.shutdown()
            assert trace_exporter.encode_spans is expected, mode
    finally:
        otlp.use_for_export(False)


@pytest.mark.slow  # a local OTLP endpoint
def test_the_exporter_posts_our_bytes_and_they_parse_to_the_same_spans(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    from tests.otlp_sink import OTLPSink

    spans = _varied_spans(_kept_spans(provider, monkeypatch))
    posted: list[Any] = []
    with OTLPSink() as sink:
        monkeypatch.setattr(sink, "_ingest", posted.append)  # the parsed request, whole
        exporter = OTLPSpanExporter(endpoint=sink.endpoint + "/v1/traces")
        try:
            otlp.use_for_export(True)
            assert exporter.export(spans) is SpanExportResult.SUCCESS
        finally:
            otlp.use_for_export(False)
            exporter.shutdown()
    (request,) = posted
    assert request == encode_spans(spans)  # the library's encoding of the same batch
    assert request.SerializeToString() == encode_spans(spans).SerializeToString()
