"""What a kept span costs to export: the process's resource hashed once, not per span.

The OTLP encoder groups the spans of a batch by resource in a dict; the SDK's
``Resource.__hash__`` JSON-dumps every attribute on each call. The services'
resource (``slolab.telemetry.service_resource``) hashes once and must stay a
``Resource`` in every other way: equal, mergeable, serialised, encoded to the
same bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from flask import Flask
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk import resources
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from slolab import telemetry
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
