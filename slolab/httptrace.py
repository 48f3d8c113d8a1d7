"""One SERVER span per HTTP request, for WSGI and ASGI apps, at the least cost.

The official Flask/FastAPI instrumentations do their attribute work (two WSGI
attribute dicts, URL exclusion checks that build the URL, a dozen attributes)
before and regardless of the sampling decision; they cost ~5x a minimal span
(docs/benchmarks.md). These middlewares, on the OpenTelemetry SDK:

- propagate context only when the request carries the propagator's headers;
- let the SDK's sampler decide first (``OTEL_TRACES_SAMPLER``): an unsampled
  request gets a non-recording span (its ids still reach logs and outgoing
  calls) and nothing more;
- with the process's tracer provider (``slolab.telemetry.setup_tracing``), build
  no SDK span while the request runs: it runs under a non-recording span that
  carries its ids (logs, exemplars and outgoing ``traceparent`` see them), and
  the finished span (the SDK's ``ReadableSpan``, what exporters take) is made
  when the request ends, only if the trace is kept
  (``slolab.telemetry.TailKeepProcessor``: failed, slow, the ratio), with the
  same ids and start time. A dropped trace never pays for a span object, its
  attributes or the processors. With a provider given explicitly (tests,
  embedding) every sampled request gets its SDK span at once;
- trace outgoing httpx calls the same way (``ClientTracing``): a CLIENT span
  only when the trace is kept, its id in the ``traceparent`` regardless;
- for a kept (or explicit) one set the stable HTTP semantic-convention attributes and no
  others: ``http.request.method``, ``url.scheme``, ``url.path``, ``http.route``,
  ``http.response.status_code``, ``server.address``, ``server.port``,
  ``network.protocol.version``, ``client.address``, ``user_agent.original``,
  ``error.type`` on failures; name ``"{method} {route}"``; status ERROR on a 5xx
  or an exception (a 4xx is the client's error, not the server span's);
- answer a caller that sent a ``traceparent`` with a W3C Trace Context level 2
  ``traceresponse`` header whose sampled flag says whether this service keeps
  the trace (``slolab.telemetry.traceresponse``): the caller then keeps its side.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import baggage, context, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import Event, ReadableSpan, sampling
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from slolab.asgi import ResponseWatch
from slolab.telemetry import TRACERESPONSE, callee_keeps, keeper, traceresponse

__all__ = [
    "EXCLUDED_PATHS",
    "ROUTE_KEY",
    "AsgiTracing",
    "ClientTracing",
    "WsgiTracing",
    "remember_flask_routes",
    "trace_flask",
]

# Probes and scrapes are not user traffic.
EXCLUDED_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
_SERVER = SpanKind.SERVER
_SCOPE = InstrumentationScope("slolab.httptrace")
_UNSET = Status(StatusCode.UNSET)
_KNOWN = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})


def _tracer(provider: trace.TracerProvider | None) -> trace.Tracer:
    # Without a provider: the global one, also when it is installed later (after fork).
    return trace.get_tracer("slolab.httptrace", tracer_provider=provider)


def _header_fields() -> tuple[str, ...]:
    """Lower-case header names the configured propagators read (traceparent, baggage …)."""
    return tuple(sorted(propagate.get_global_textmap().fields))


class _DictGetter:
    """Read a carrier that is a plain dict of lower-case header names."""

    @staticmethod
    def get(carrier: dict[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        return None if value is None else [value]

    @staticmethod
    def keys(carrier: dict[str, str]) -> list[str]:
        return list(carrier)


_GETTER = _DictGetter()


_SAMPLED, _UNSAMPLED = TraceFlags(TraceFlags.SAMPLED), TraceFlags(TraceFlags.DEFAULT)

# The samplers OTEL_TRACES_SAMPLER names whose decision needs neither the trace id nor
# the span: the SDK's own objects (``always_on``, ``always_off``, ``parentbased_always_on``
# (the default), ``parentbased_always_off`` are these instances), by id, as (decision
# without a valid parent, whether a valid parent's sampled flag decides instead). Their
# result as the SDK computes it: the parent's trace state when the parent is valid, the
# empty one otherwise. Calling them costs most of a request's ids (docs/benchmarks.md);
# any other sampler (ratios, custom ones) is called.
_BY_PARENT: dict[int, tuple[bool, bool]] = {
    id(sampling.ALWAYS_ON): (True, False),
    id(sampling.ALWAYS_OFF): (False, False),
    id(sampling.DEFAULT_ON): (True, True),
    id(sampling.DEFAULT_OFF): (False, True),
}


def _placeholder(
    parent: context.Context | None, name: str, kind: SpanKind = SpanKind.SERVER
) -> trace.Span:
    """A non-recording span with the ids and sampling decision an SDK span would get."""
    provider = trace.get_tracer_provider()
    sampler = getattr(provider, "sampler", None)
    if sampler is None:  # no SDK provider (yet): as its no-op tracer would
        return trace.INVALID_SPAN
    ids = provider.id_generator  # type: ignore[attr-defined]
    above = trace.get_current_span(parent).get_span_context()
    trace_id = above.trace_id if above.is_valid else ids.generate_trace_id()
    rule = _BY_PARENT.get(id(sampler))
    if rule is None:  # any other sampler decides for itself
        decision = sampler.should_sample(parent, trace_id, name, kind)
        sampled, state = decision.decision.is_sampled(), decision.trace_state
    elif above.is_valid:
        sampled = above.trace_flags.sampled if rule[1] else rule[0]
        state = above.trace_state
    else:
        sampled, state = rule[0], None
    flags = _SAMPLED if sampled else _UNSAMPLED
    return NonRecordingSpan(SpanContext(trace_id, ids.generate_span_id(), False, flags, state))


class _Request:
    """What the SERVER span of a request needs, until it ends."""

    __slots__ = ("attributes", "lazy", "name", "parent", "span", "start_ns")

    def __init__(
        self,
        tracer: trace.Tracer,
        lazy: bool,
        parent: context.Context | None,
        name: str,
        attributes: Callable[[], dict[str, Any]],
    ) -> None:
        self.lazy = lazy
        self.parent = parent
        self.name = name
        self.attributes = attributes  # called only for a span that is built
        self.start_ns = time.time_ns()
        if lazy:
            self.span = _placeholder(parent, name)
        else:
            self.span = tracer.start_span(
                name, parent, _SERVER, start_time=self.start_ns, record_exception=False
            )
            if self.span.is_recording():
                self.span.set_attributes(attributes())

    def sampled(self) -> bool:
        return self.span.get_span_context().trace_flags.sampled

    def finish(
        self, tracer: trace.Tracer, status: int, route: str | None, error: BaseException | None
    ) -> None:
        span = self.span
        if self.lazy:  # built now, if the trace is kept
            ids = span.get_span_context()
            keep = keeper()
            if not ids.trace_flags.sampled or keep is None:
                return
            end_ns = time.time_ns()
            failed = error is not None or status >= 500
            if not keep.verdict(ids.trace_id, (end_ns - self.start_ns) / 1e9, failed):
                keep.discard(ids.trace_id)
                return
            # The finished span straight to the keep decision: no SDK span object, no
            # per-attribute lock, no second sampling (a kept trace's cost: the export).
            parent = trace.get_current_span(self.parent).get_span_context()
            attributes = self.attributes()
            built = _server_span(
                ids, parent, self.name, attributes, self.start_ns, end_ns, status, route, error
            )
            keep.on_end(built)
            return
        _end(span, status, route, error)


def _exception_event(error: BaseException, when: int) -> Event:
    """The event ``Span.record_exception`` would add."""
    kind = type(error).__qualname__
    return Event(
        "exception",
        {
            "exception.type": kind,
            "exception.message": str(error),
            "exception.stacktrace": "".join(traceback.format_exception(error)),
            "exception.escaped": "False",
        },
        when,
    )


def _server_span(
    ids: SpanContext,
    parent: SpanContext,
    name: str,
    attributes: dict[str, Any],
    start_ns: int,
    end_ns: int,
    status: int,
    route: str | None,
    error: BaseException | None,
) -> ReadableSpan:
    """The SERVER span of a kept trace, as ``_end`` would have finished an SDK span."""
    attributes["http.response.status_code"] = status
    if route:
        attributes["http.route"] = route
        name = f"{name} {route}"
    events: tuple[Event, ...] = ()
    outcome = _UNSET
    if error is not None:
        events = (_exception_event(error, end_ns),)
        attributes["error.type"] = type(error).__qualname__
        outcome = Status(StatusCode.ERROR, str(error))
    elif status >= 500:
        attributes["error.type"] = str(status)
        outcome = Status(StatusCode.ERROR)
    return _finished(name, _SERVER, ids, parent, attributes, events, outcome, start_ns, end_ns)


def _end(
    span: trace.Span,
    status: int,
    route: str | None,
    error: BaseException | None,
    end_ns: int | None = None,
) -> None:
    if span.is_recording():
        span.set_attribute("http.response.status_code", status)
        if route:
            span.set_attribute("http.route", route)
            span.update_name(f"{span.name} {route}")  # type: ignore[attr-defined]
        if error is not None:
            span.record_exception(error)
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(Status(StatusCode.ERROR, str(error)))
        elif status >= 500:
            span.set_attribute("error.type", str(status))
            span.set_status(Status(StatusCode.ERROR))
    span.end(end_ns)


class WsgiTracing:
    """WSGI middleware: one SERVER span per request (Flask's URL rule as the route)."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        excluded: frozenset[str] = EXCLUDED_PATHS,
        tracer_provider: trace.TracerProvider | None = None,
    ):
        self.app = app
        self.excluded = excluded
        self.tracer = _tracer(tracer_provider)
        self.lazy = tracer_provider is None  # the process's provider: spans only when kept
        # environ keys of the propagation headers, e.g. HTTP_TRACEPARENT
        self.fields = tuple(("HTTP_" + f.upper().replace("-", "_"), f) for f in _header_fields())

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in self.excluded:
            return self.app(environ, start_response)
        carrier = {f: environ[k] for k, f in self.fields if k in environ}
        parent = propagate.extract(carrier, getter=_GETTER) if carrier else None
        method = environ.get("REQUEST_METHOD", "GET")
        req = _Request(
            self.tracer,
            self.lazy,
            parent,
            method if method in _KNOWN else "HTTP",
            lambda: _wsgi_attributes(environ, method, path),
        )
        token = context.attach(trace.set_span_in_context(req.span, parent))
        status = [500]
        answer = parent is not None and req.sampled()  # a traced caller listens

        def start(code: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            status[0] = int(code[:3])
            if answer:
                ctx = req.span.get_span_context()
                seconds = (time.time_ns() - req.start_ns) / 1e9
                value = traceresponse(ctx.trace_id, ctx.span_id, seconds, status[0] >= 500)
                if value is not None:
                    headers = [*headers, (TRACERESPONSE, value)]
            return start_response(code, headers, *exc)

        try:
            body = self.app(environ, start)
        except BaseException as exc:
            req.finish(self.tracer, 500, _flask_route(environ), exc)
            raise
        finally:
            context.detach(token)
        # Flask builds the body before returning: the span ends with the answer made.
        req.finish(self.tracer, status[0], _flask_route(environ), None)
        return body


def _wsgi_attributes(environ: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return {
        "http.request.method": method if method in _KNOWN else "_OTHER",
        "url.scheme": environ.get("wsgi.url_scheme", "http"),
        "url.path": path,
        "server.address": environ.get("SERVER_NAME", ""),
        "server.port": int(environ.get("SERVER_PORT") or 0),
        "network.protocol.version": environ.get("SERVER_PROTOCOL", "HTTP/1.1")[5:],
        "client.address": environ.get("REMOTE_ADDR", ""),
        "user_agent.original": environ.get("HTTP_USER_AGENT", ""),
    }


ROUTE_KEY = "slolab.route"


def _flask_route(environ: dict[str, Any]) -> str | None:
    return environ.get(ROUTE_KEY)


def remember_flask_routes(app: Any) -> None:
    """Leave each request's URL rule in its WSGI environ (``ROUTE_KEY``); idempotent.

    Flask drops its request object before the WSGI call returns, so WSGI
    middlewares (tracing, request metrics) read the route from the environ. The
    app's request class stores it when Flask assigns ``url_rule`` after routing:
    no ``before_request`` hook (Flask's hook machinery costs more than the store).
    """
    base = app.request_class
    if getattr(base, "_slolab_routes", False):
        return

    class RouteRecordingRequest(base):  # type: ignore[valid-type, misc]
        _slolab_routes = True
        _rule = None

        @property  # type: ignore[override]
        def url_rule(self) -> Any:
            return self._rule

        @url_rule.setter
        def url_rule(self, rule: Any) -> None:
            self._rule = rule
            if rule is not None:
                self.environ[ROUTE_KEY] = rule.rule

    app.request_class = RouteRecordingRequest


def trace_flask(app: Any, tracer_provider: trace.TracerProvider | None = None) -> None:
    """Wrap a Flask app's WSGI callable in ``WsgiTracing``, its URL rule as the route."""
    if app.extensions.get("slolab.httptrace"):
        return
    remember_flask_routes(app)
    app.wsgi_app = WsgiTracing(app.wsgi_app, tracer_provider=tracer_provider)
    app.extensions["slolab.httptrace"] = True  # traced (tests, and against doing it twice)


class AsgiTracing:
    """ASGI middleware: one SERVER span per HTTP request (Starlette's route path)."""

    def __init__(
        self,
        app: Any,
        excluded: frozenset[str] = EXCLUDED_PATHS,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.app = app
        self.excluded = excluded
        self.tracer = _tracer(tracer_provider)
        self.lazy = tracer_provider is None  # the process's provider: spans only when kept
        self.fields = frozenset(f.encode() for f in _header_fields())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in self.excluded:
            await self.app(scope, receive, send)
            return
        carrier = {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in self.fields}
        parent = propagate.extract(carrier, getter=_GETTER) if carrier else None
        method = scope["method"]
        req = _Request(
            self.tracer,
            self.lazy,
            parent,
            method if method in _KNOWN else "HTTP",
            lambda: _asgi_attributes(scope, method),
        )
        token = context.attach(trace.set_span_in_context(req.span, parent))
        if parent is not None and req.sampled():  # a traced caller listens
            send = _answering(send, req)
        watch = ResponseWatch(send)
        try:
            await self.app(scope, receive, watch)
        except BaseException as exc:
            req.finish(self.tracer, 500, _asgi_route(scope), exc)
            raise
        finally:
            context.detach(token)
        req.finish(self.tracer, watch.status, _asgi_route(scope), None)


def _asgi_attributes(scope: dict[str, Any], method: str) -> dict[str, Any]:
    server = scope.get("server") or ("", 0)
    client = scope.get("client") or ("", 0)
    ua = next((v for k, v in scope["headers"] if k == b"user-agent"), b"")
    return {
        "http.request.method": method if method in _KNOWN else "_OTHER",
        "url.scheme": scope.get("scheme", "http"),
        "url.path": scope["path"],
        "server.address": server[0] or "",
        "server.port": server[1] or 0,
        "network.protocol.version": scope.get("http_version", "1.1"),
        "client.address": client[0] or "",
        "user_agent.original": ua.decode("latin-1"),
    }


def _answering(send: Any, req: _Request) -> Any:
    """``send`` with a ``traceresponse`` header added to the response's start."""

    async def answer(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            ctx = req.span.get_span_context()
            seconds = (time.time_ns() - req.start_ns) / 1e9
            value = traceresponse(ctx.trace_id, ctx.span_id, seconds, message["status"] >= 500)
            if value is not None:
                headers = [*message.get("headers", ()), (b"traceresponse", value.encode())]
                message = {**message, "headers": headers}
        await send(message)

    return answer


def _asgi_route(scope: dict[str, Any]) -> str | None:
    route = scope.get("route")
    return getattr(route, "path", None)


_CLIENT = SpanKind.CLIENT


class ClientTracing:
    """An httpx transport that traces each call with a CLIENT span, built only if kept.

    The call carries a ``traceparent`` with the span id chosen here (the callee's
    SERVER span names it as its parent); no SDK span object is made while it runs.
    When it ends, its facts wait with the keep decision
    (``slolab.telemetry.TailKeepProcessor.defer``) and become a span only if the
    local trace is kept. An error status (a 4xx or 5xx answer, per the client
    semantic conventions, or a transport error: timeout, refused), a call slower
    than the threshold, or a callee whose ``traceresponse`` says it keeps its side
    keeps the whole local trace. Without the process's keep decision (no exporter)
    only the ids travel. The span ends when the response's head arrives (as the
    official httpx instrumentation's): a body read later is not in it.
    """

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        # The global propagator last seen, and whether it is the SDK's default one.
        self._checked: tuple[Any, bool] = (None, False)

    def handle_request(self, request: Any) -> Any:
        above = trace.get_current_span().get_span_context()
        method = request.method
        span = _child(above) if above.is_valid else _placeholder(None, method, _CLIENT)
        ids = span.get_span_context()
        if not ids.is_valid:  # no SDK provider (yet)
            return self.transport.handle_request(request)
        self._propagate(request.headers, span, ids)
        keep = keeper()
        if keep is None or not ids.trace_flags.sampled:
            return self.transport.handle_request(request)
        start_ns = time.time_ns()
        try:
            response = self.transport.handle_request(request)
        except BaseException as exc:
            _called(keep, above, ids, request, start_ns, None, exc, None)
            raise
        answer = response.headers.get(TRACERESPONSE)
        _called(keep, above, ids, request, start_ns, response, None, answer)
        return response

    def _propagate(self, headers: Any, span: trace.Span, ids: SpanContext) -> None:
        """The call's context into its headers, as the configured propagators write it.

        With the SDK's default propagators (tracecontext, then baggage) and no baggage
        in the context, the ``traceparent`` (and ``tracestate``) are written here as
        ``TraceContextTextMapPropagator`` writes them: the generic path costs about
        three times as much (docs/benchmarks.md). Any other configuration goes through
        ``propagate.inject``.
        """
        textmap = propagate.get_global_textmap()
        checked = self._checked
        if checked[0] is not textmap:  # once per configured propagator
            checked = self._checked = (textmap, _w3c_default(textmap))
        if checked[1] and not baggage.get_all():
            headers["traceparent"] = (
                f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{ids.trace_flags:02x}"
            )
            if ids.trace_state:
                headers["tracestate"] = ids.trace_state.to_header()
            return
        propagate.inject(headers, context=trace.set_span_in_context(span))

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> ClientTracing:
        self.transport.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.transport.__exit__(*exc)


_W3C_DEFAULT = (TraceContextTextMapPropagator, W3CBaggagePropagator)


def _w3c_default(textmap: Any) -> bool:
    """Whether ``textmap`` is the SDK's default: ``OTEL_PROPAGATORS=tracecontext,baggage``."""
    parts = getattr(textmap, "_propagators", None)  # the composite's, in order
    return (
        type(textmap) is CompositePropagator
        and isinstance(parts, list | tuple)
        and tuple(type(p) for p in parts) == _W3C_DEFAULT
    )


def _child(above: SpanContext) -> trace.Span:
    """A local child's ids, with its parent's sampling decision and trace state.

    Without calling the sampler: every sampler ``OTEL_TRACES_SAMPLER`` names decides a
    local child as its parent (the parent-based ones by definition; always_on and
    always_off alike for both; traceidratio by the same trace id), and the sampler is
    most of what a span's ids cost (docs/benchmarks.md).
    """
    ids = getattr(trace.get_tracer_provider(), "id_generator", None)
    if ids is None:  # no SDK provider (yet): nothing to name
        return trace.INVALID_SPAN
    return NonRecordingSpan(
        SpanContext(
            above.trace_id, ids.generate_span_id(), False, above.trace_flags, above.trace_state
        )
    )


def _called(
    keep: Any,
    above: SpanContext,
    ids: SpanContext,
    request: Any,
    start_ns: int,
    response: Any,
    error: BaseException | None,
    answer: str | None,
) -> None:
    """Leave a finished call with the keep decision (or decide, if it is the local root)."""
    end_ns = time.time_ns()
    status = 0 if response is None else response.status_code
    failed = error is not None or status >= 400
    seconds = (end_ns - start_ns) / 1e9
    noteworthy = failed or seconds > keep.policy.slow_s or callee_keeps(answer, ids.trace_id)

    def build() -> ReadableSpan:
        return _client_span(ids, above, request, start_ns, end_ns, response, error)

    if above.is_valid and not above.is_remote:  # the request's root decides for both
        keep.defer(ids.trace_id, build, noteworthy)
        return
    # No local root: this call is the root of its local trace.
    if noteworthy or keep.verdict(ids.trace_id, seconds, failed):
        keep.export(build())
    keep.discard(ids.trace_id)


def _client_span(
    ids: SpanContext,
    parent: SpanContext,
    request: Any,
    start_ns: int,
    end_ns: int,
    response: Any,
    error: BaseException | None,
) -> ReadableSpan:
    """The CLIENT span of a kept trace (stable HTTP client semantic conventions)."""
    url = request.url
    method = request.method
    attributes: dict[str, Any] = {
        "http.request.method": method if method in _KNOWN else "_OTHER",
        "url.full": str(url.copy_with(username=None, password=None)),
        "server.address": url.host,
        "server.port": url.port or (443 if url.scheme == "https" else 80),
    }
    events: tuple[Event, ...] = ()
    status = _UNSET
    if response is not None:
        code = response.status_code
        attributes["http.response.status_code"] = code
        attributes["network.protocol.version"] = str(
            response.extensions.get("http_version", b"HTTP/1.1"), "ascii"
        )[5:]
        if code >= 400:
            attributes["error.type"] = str(code)
            status = Status(StatusCode.ERROR)
    if error is not None:
        kind = type(error).__qualname__
        attributes["error.type"] = kind
        status = Status(StatusCode.ERROR, f"{kind}: {error}")
        events = (_exception_event(error, end_ns),)
    name = method if method in _KNOWN else "HTTP"
    return _finished(name, _CLIENT, ids, parent, attributes, events, status, start_ns, end_ns)


def _finished(
    name: str,
    kind: Any,
    ids: Any,
    parent: Any,
    attributes: dict[str, Any],
    events: tuple[Event, ...],
    status: Any,
    start_ns: int,
    end_ns: int,
) -> ReadableSpan:
    """A kept span as the exporter takes it (no SDK span object: see the module doc)."""
    return ReadableSpan(
        name=name,
        context=ids,
        parent=parent if parent.is_valid else None,
        resource=getattr(trace.get_tracer_provider(), "resource", None),
        attributes=attributes,
        events=events,
        kind=kind,
        status=status,
        start_time=start_ns,
        end_time=end_ns,
        instrumentation_scope=_SCOPE,
    )
