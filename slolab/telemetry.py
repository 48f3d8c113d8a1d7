"""Tracing and logging set up once, shared by both services.

Tracing follows the OpenTelemetry SDK's own environment variables
(``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_TRACES_SAMPLER``,
``OTEL_SDK_DISABLED`` …): we only decide *when* to install a provider (once per
process, after any fork) and *whether* to export (only when an endpoint is set).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import StatusCode

from slolab.envconfig import env_float

__all__ = [
    "TRACERESPONSE",
    "KeepPolicy",
    "TailKeepProcessor",
    "callee_keeps",
    "configure_logging",
    "fastapi_options",
    "flush_tracing_at_exit",
    "instrument_fastapi",
    "instrument_flask",
    "instrumentation_enabled",
    "keeper",
    "lean_tracing",
    "service_resource",
    "setup_tracing",
    "shutdown_tracing",
    "trace_exemplar",
    "traceresponse",
    "tracing_mode",
]

_lock = threading.Lock()
_provider: TracerProvider | None = None
_provider_pid: int | None = None
_clients_instrumented = False


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


_SWITCH = "SLOLAB_INSTRUMENTATION"
_ON, _OFF = {"on", "1", "true", "yes"}, {"off", "0", "false", "no"}


def instrumentation_enabled() -> bool:
    """Whether request metrics and tracing are on (``SLOLAB_INSTRUMENTATION``, default on).

    ``off`` exists for benchmarks only (docs/benchmarks.md): it measures what the
    instrumentation costs. Read at call time; an unknown value is an error.
    """
    raw = os.environ.get(_SWITCH, "").strip().lower() or "on"
    if raw not in _ON | _OFF:
        raise ValueError(f"{_SWITCH} must be 'on' or 'off', got {raw!r}")
    return raw in _ON


_MODES = ("lean", "official")


def tracing_mode() -> str:
    """``SLOLAB_TRACING``: ``lean`` (default, slolab.httptrace) or ``official`` (the
    OpenTelemetry Flask/FastAPI instrumentations as shipped: the benchmark's anchor)."""
    raw = os.environ.get("SLOLAB_TRACING", "").strip().lower() or "lean"
    if raw not in _MODES:
        raise ValueError(f"SLOLAB_TRACING must be one of {', '.join(_MODES)}, got {raw!r}")
    return raw


def _tracing_wanted() -> bool:
    return instrumentation_enabled() and not _env_true("OTEL_SDK_DISABLED")


def lean_tracing() -> bool:
    """Whether this process traces the lean way (``slolab.httptrace``): read at call time."""
    return _tracing_wanted() and tracing_mode() == "lean"


# Latency SLO thresholds of slos.yaml per service (tests/test_telemetry.py holds them
# equal): a request slower than its service's threshold always keeps its trace.
SLOW_DEFAULT_S = {"tasks": 0.5, "predictor": 0.2}


class KeepPolicy:
    """Which finished traces are exported: every failure, every request slower than
    ``slow_s``, and ``ratio`` of the rest chosen by trace id (the same traces in every
    service, so a kept trace is whole)."""

    def __init__(self, slow_s: float, ratio: float) -> None:
        self.slow_s = slow_s
        self.ratio = ratio
        self._bound = round(ratio * (1 << 64))

    def by_ratio(self, trace_id: int) -> bool:
        return (trace_id & 0xFFFFFFFFFFFFFFFF) < self._bound

    def keep(self, trace_id: int, seconds: float, failed: bool) -> bool:
        return failed or seconds > self.slow_s or self.by_ratio(trace_id)

    @classmethod
    def from_env(cls, service: str) -> KeepPolicy:
        slow = env_float(
            os.environ, "SLOLAB_TRACE_SLOW_S", SLOW_DEFAULT_S.get(service, 0.5), 0, 3600
        )
        ratio = env_float(os.environ, "SLOLAB_TRACE_KEEP_RATIO", 0.1, 0.0, 1.0)
        return cls(slow, ratio)


def _noteworthy(span: ReadableSpan, slow_s: float) -> bool:
    """An error (a 5xx, a client's timeout, an exception) or slower than ``slow_s``."""
    if span.status.status_code is StatusCode.ERROR:
        return True
    return ((span.end_time or 0) - (span.start_time or 0)) / 1e9 > slow_s


class _Waiting:
    """A local trace whose root has not ended: its finished spans (or what builds one,
    ``TailKeepProcessor.defer``), and whether it is kept."""

    __slots__ = ("keep", "spans")

    def __init__(self) -> None:
        self.spans: list[ReadableSpan | Callable[[], ReadableSpan]] = []
        self.keep = False


class TailKeepProcessor(SpanProcessor):
    """Decide at the end of a request what to export (``KeepPolicy``), before encoding.

    Spans of a request end before its local root (the SERVER span, whose parent is
    remote or absent); they wait here, per trace, until the root ends and the
    decision is taken for all of them. The decision covers the whole local trace:
    any span with an error status (a CLIENT span that got a 5xx or timed out, an
    exception) or slower than the threshold keeps it, and so does a callee that
    said it keeps its side (``keep_trace``, from a ``traceresponse`` header).
    Dropped spans are never encoded, which is where an export costs
    (docs/benchmarks.md). At most ``max_pending`` traces wait (a root that never
    ends must not hold memory): the oldest are dropped first.
    """

    def __init__(self, downstream: SpanProcessor, policy: KeepPolicy, max_pending: int = 2048):
        self.downstream = downstream
        self.policy = policy
        self.max_pending = max_pending
        self._pending: dict[int, _Waiting] = {}
        self._lock = threading.Lock()

    def _waiting(self, trace_id: int) -> _Waiting:
        """The trace's entry (call with the lock held)."""
        waiting = self._pending.get(trace_id)
        if waiting is None:
            if len(self._pending) >= self.max_pending:
                self._pending.pop(next(iter(self._pending)))
            waiting = self._pending[trace_id] = _Waiting()
        return waiting

    def keep_trace(self, trace_id: int) -> None:
        """Keep this local trace whatever its root's outcome (a callee kept its side)."""
        with self._lock:
            self._waiting(trace_id).keep = True

    def verdict(self, trace_id: int, seconds: float, failed: bool) -> bool:
        """Whether the trace would be kept if its root ended now like this.

        A ``True`` is a promise (the callee's ``traceresponse``): it is recorded, so
        the root's final decision cannot go back on it.
        """
        if not self.policy.keep(trace_id, seconds, failed):
            # Dropped unless already promised. Most requests end here: one dict read,
            # atomic under the GIL, where a lock would cost as much as the rest.
            waiting = self._pending.get(trace_id)
            return waiting is not None and waiting.keep
        with self._lock:
            self._waiting(trace_id).keep = True
        return True

    def defer(self, trace_id: int, build: Callable[[], ReadableSpan], noteworthy: bool) -> None:
        """A finished child span of a local trace, built only if its root keeps the trace
        (``slolab.httptrace.ClientTracing``); ``noteworthy`` keeps it (an error, slow)."""
        with self._lock:
            waiting = self._waiting(trace_id)
            waiting.spans.append(build)
            waiting.keep = waiting.keep or noteworthy

    def export(self, span: ReadableSpan) -> None:
        """Export a span built after its trace was kept (a local root outside ``on_end``)."""
        self.downstream.on_end(span)

    def discard(self, trace_id: int) -> None:
        """Drop a local trace whose root is never built (``slolab.httptrace``)."""
        self._pending.pop(trace_id, None)  # one atomic dict operation: no lock needed

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is None:
            return
        parent = span.parent
        if parent is not None and not parent.is_remote:
            noteworthy = _noteworthy(span, self.policy.slow_s)
            with self._lock:
                waiting = self._waiting(ctx.trace_id)
                waiting.spans.append(span)
                waiting.keep = waiting.keep or noteworthy
            return
        with self._lock:
            waiting = self._pending.pop(ctx.trace_id, None)
        keep = (waiting is not None and waiting.keep) or self.policy.keep(
            ctx.trace_id,
            ((span.end_time or 0) - (span.start_time or 0)) / 1e9,
            span.status.status_code is StatusCode.ERROR,
        )
        if keep:
            for child in waiting.spans if waiting is not None else ():
                self.downstream.on_end(child if isinstance(child, ReadableSpan) else child())
            self.downstream.on_end(span)

    def shutdown(self) -> None:
        self.downstream.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.downstream.force_flush(timeout_millis)


_keeper: TailKeepProcessor | None = None


def keeper() -> TailKeepProcessor | None:
    """This process's keep decision; None when traces are not exported (or not ours)."""
    return _keeper


# W3C Trace Context level 2: the callee's answer, ``00-{trace id}-{its span id}-{flags}``.
TRACERESPONSE = "traceresponse"


def traceresponse(trace_id: int, span_id: int, seconds: float, failed: bool) -> str | None:
    """The ``traceresponse`` a callee answers with, its sampled flag set when it keeps
    the trace (and then bound to keep it); None when traces are not exported here."""
    keeper = _keeper
    if keeper is None:
        return None
    flags = "01" if keeper.verdict(trace_id, seconds, failed) else "00"
    return f"00-{trace_id:032x}-{span_id:016x}-{flags}"


def callee_keeps(value: str | None, trace_id: int) -> bool:
    """Whether a callee's ``traceresponse`` says it keeps this trace (its sampled flag)."""
    if value is None:
        return False
    parts = value.split("-")
    return (
        len(parts) == 4
        and len(parts[1]) == 32
        and len(parts[3]) == 2
        and parts[3][1:] in "13579bdfBDF"  # the sampled bit (0x01) set
        and parts[1].lower() == format(trace_id, "032x")
    )


def _export_endpoint_configured() -> bool:
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


class _ServiceResource(Resource):
    """A ``Resource`` whose hash is computed once: the OTLP encoder hashes it per span.

    The encoder groups every exported span by its resource in a dict, and the SDK's
    ``Resource.__hash__`` JSON-dumps all the attributes, sorted, on every call: 38 k
    instructions per exported span, 12% of its encoding (docs/benchmarks.md). A
    Resource is immutable, so its hash is too, and the value is the SDK's: the resource
    still equals, merges and serialises as any ``Resource`` (a merge keeps the class:
    the SDK merges the provider's resource again in a forked child).
    """

    def __init__(self, attributes: Any, schema_url: str | None = None) -> None:
        super().__init__(attributes, schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash

    def merge(self, other: Resource) -> Resource:
        merged = super().merge(other)
        if merged is self:  # the SDK refused the merge (schema URLs in conflict)
            return self
        return _ServiceResource(merged.attributes, merged.schema_url)


def service_resource(service: str) -> Resource:
    """This process's resource, as the SDK creates it (its detectors,
    ``OTEL_RESOURCE_ATTRIBUTES``; ``OTEL_SERVICE_NAME`` or ``service``), hashed once."""
    created = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
    return _ServiceResource(created.attributes, created.schema_url)


def setup_tracing(service: str) -> TracerProvider | None:
    """Install the tracer provider for this process; call after fork, once.

    Returns the provider, or None when the SDK or the instrumentation is switched
    off. Spans are always recorded (so logs and exemplars carry trace ids) but
    only exported when an OTLP endpoint is configured.
    """
    global _provider, _provider_pid, _keeper
    if not _tracing_wanted():
        return None
    with _lock:
        if _provider is not None and _provider_pid == os.getpid():
            return _provider
        resource = service_resource(service)
        # The sampler comes from OTEL_TRACES_SAMPLER(_ARG); the SDK default is
        # parentbased_always_on, which keeps one trace across both services.
        provider = TracerProvider(resource=resource)
        if _export_endpoint_configured():
            # Imported lazily: the exporter pulls in requests/protobuf.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            from slolab import otlp

            # Kept spans encoded top-down (slolab.otlp: the same bytes, a third of the
            # cost); the official mode, the benchmark's anchor, keeps the library's.
            otlp.use_for_export(tracing_mode() == "lean")
            batch = BatchSpanProcessor(OTLPSpanExporter())
            if tracing_mode() == "lean":
                _keeper = TailKeepProcessor(batch, KeepPolicy.from_env(service))
                provider.add_span_processor(_keeper)
            else:  # the anchor: every span, as the official setup exports it
                provider.add_span_processor(batch)
        trace.set_tracer_provider(provider)
        if trace.get_tracer_provider() is not provider:
            # set_tracer_provider only works once per process (e.g. a forked child
            # inheriting its parent's): reuse what is installed.
            installed = trace.get_tracer_provider()
            provider.shutdown()
            provider = installed if isinstance(installed, TracerProvider) else provider
        _provider, _provider_pid = provider, os.getpid()
        _instrument_clients()
        return _provider


def _instrument_clients() -> None:
    """Trace outgoing MongoDB (pymongo) calls, process-wide, and HTTP (httpx) ones for
    the official mode; the lean mode's HTTP clients trace their calls themselves
    (``slolab.httptrace.ClientTracing``: a span only when the trace is kept)."""
    global _clients_instrumented
    if _clients_instrumented:
        return
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    if tracing_mode() == "official":
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().instrument()
    PymongoInstrumentor().instrument()
    _clients_instrumented = True


def shutdown_tracing() -> None:
    """Flush and stop the exporter (at worker exit)."""
    global _provider
    with _lock:
        if _provider is not None and _provider_pid == os.getpid():
            _provider.shutdown()
        _provider = None


def flush_tracing_at_exit() -> None:
    """Flush queued spans when this worker process ends normally (graceful stop).

    A multiprocessing child (granian's workers) leaves through ``os._exit``, which
    skips ``atexit``; multiprocessing's own finalizers still run, so register there
    as well. ``shutdown_tracing`` is idempotent.
    """
    import atexit
    import multiprocessing.util

    atexit.register(shutdown_tracing)
    multiprocessing.util.Finalize(None, shutdown_tracing, exitpriority=100)


def instrument_flask(app: Any) -> None:
    """Trace every request of this Flask app (spans reach the provider once set)."""
    if not _tracing_wanted():
        return
    if tracing_mode() == "lean":
        from slolab.httptrace import trace_flask

        trace_flask(app)
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    # No SQL commenter: it only feeds SQL ORMs (we have none) and costs a context
    # attach per request (docs/benchmarks.md).
    FlaskInstrumentor().instrument_app(
        app, excluded_urls="metrics,healthz,readyz", enable_commenter=False
    )


def instrument_fastapi(app: Any) -> None:
    """Trace every request of this FastAPI app."""
    if not _tracing_wanted():
        return
    if tracing_mode() == "lean":
        from slolab.httptrace import AsgiTracing

        app.add_middleware(AsgiTracing)
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # No span per ASGI receive/send message: two extra spans per request that say
    # nothing the request span does not, at a measured ~0.1 ms (docs/benchmarks.md).
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="metrics,healthz,readyz", exclude_spans=["receive", "send"]
    )


def fastapi_options() -> dict[str, Any]:
    """Keyword arguments for ``FastAPI(...)``: its native telemetry off, where it has one.

    FastAPI >= 0.16x traces by itself as soon as a tracer provider is installed:
    its own server span plus spans for dependencies, the endpoint and
    serialisation. One SERVER span per request comes from ``instrument_fastapi``;
    the native layer would add three more spans and its own metrics per request.
    """
    import inspect

    from fastapi import FastAPI

    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    off = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    return {"telemetry": off}


def trace_exemplar(seconds: float = 0.0, failed: bool = False) -> dict[str, str] | None:
    """Return an exemplar label set for the current sampled span, if any.

    When traces are exported through ``KeepPolicy``, only for a request whose trace
    will be kept: an exemplar never links to a trace that was dropped.
    """
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid or not ctx.trace_flags.sampled:
        return None
    keeper = _keeper
    if keeper is not None and not keeper.verdict(ctx.trace_id, seconds, failed):
        return None
    return {"trace_id": format(ctx.trace_id, "032x")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, carrying the active trace and span ids."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            entry["trace_id"] = format(ctx.trace_id, "032x")
            entry["span_id"] = format(ctx.span_id, "016x")
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _RateLimitFilter(logging.Filter):
    """Let through one record per message template per interval for noisy loggers.

    The OTLP exporter logs a warning on every failed batch: with no collector
    reachable that would be a log line every few seconds per worker.
    """

    def __init__(self, prefixes: tuple[str, ...] = ("opentelemetry",), interval: float = 300.0):
        super().__init__()
        self.prefixes = prefixes
        self.interval = interval
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefixes):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        if now - self._last.get(key, -self.interval) < self.interval:
            return False
        self._last[key] = now
        return True


_logging_configured: set[str] = set()
# Loggers that servers (uvicorn, gunicorn, granian) give handlers of their own.
_SERVER_LOGGERS = (
    "uvicorn", "uvicorn.error", "uvicorn.access",
    "gunicorn", "gunicorn.error", "gunicorn.access",
    "granian", "granian.access", "_granian",
)  # fmt: skip


def configure_logging(service: str) -> None:
    """Send JSON log lines to stderr at LOG_LEVEL (default INFO); idempotent."""
    if service in _logging_configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(_RateLimitFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_slolab", False)]:
        root.removeHandler(old)
    handler._slolab = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    # The servers' own loggers: through the same JSON handler, not their plain-text ones.
    # (One without handlers was switched off, e.g. uvicorn's access log: it stays off.)
    for name in _SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        if server_logger.handlers:
            for old in list(server_logger.handlers):
                server_logger.removeHandler(old)
            server_logger.propagate = True
    # httpx logs every request at INFO: one line per task creation is noise, and the
    # calls are already in the metrics and traces.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    _logging_configured.add(service)
