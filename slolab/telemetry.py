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
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

__all__ = [
    "configure_logging",
    "flush_tracing_at_exit",
    "instrument_fastapi",
    "instrument_flask",
    "instrumentation_enabled",
    "setup_tracing",
    "shutdown_tracing",
    "trace_exemplar",
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


def _export_endpoint_configured() -> bool:
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def setup_tracing(service: str) -> TracerProvider | None:
    """Install the tracer provider for this process; call after fork, once.

    Returns the provider, or None when the SDK or the instrumentation is switched
    off. Spans are always recorded (so logs and exemplars carry trace ids) but
    only exported when an OTLP endpoint is configured.
    """
    global _provider, _provider_pid
    if _env_true("OTEL_SDK_DISABLED") or not instrumentation_enabled():
        return None
    with _lock:
        if _provider is not None and _provider_pid == os.getpid():
            return _provider
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
        # The sampler comes from OTEL_TRACES_SAMPLER(_ARG); the SDK default is
        # parentbased_always_on, which keeps one trace across both services.
        provider = TracerProvider(resource=resource)
        if _export_endpoint_configured():
            # Imported lazily: the exporter pulls in requests/protobuf.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
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
    """Trace outgoing HTTP (httpx) and MongoDB (pymongo) calls, process-wide."""
    global _clients_instrumented
    if _clients_instrumented:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

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
    if not instrumentation_enabled():
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    # No SQL commenter: it only feeds SQL ORMs (we have none) and costs a context
    # attach per request (docs/benchmarks.md).
    FlaskInstrumentor().instrument_app(
        app, excluded_urls="metrics,healthz,readyz", enable_commenter=False
    )


def instrument_fastapi(app: Any) -> None:
    """Trace every request of this FastAPI app."""
    if not instrumentation_enabled():
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # No span per ASGI receive/send message: two extra spans per request that say
    # nothing the request span does not, at a measured ~0.1 ms (docs/benchmarks.md).
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="metrics,healthz,readyz", exclude_spans=["receive", "send"]
    )


def trace_exemplar() -> dict[str, str] | None:
    """Return an exemplar label set for the current sampled span, if any."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid or not ctx.trace_flags.sampled:
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
