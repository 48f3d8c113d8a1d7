"""The native lab's OTLP/HTTP trace receiver: spans in, a bounded store, its own metrics.

``POST /v1/traces`` takes what the OpenTelemetry exporters send
(``application/x-protobuf``, optionally gzip) and writes the spans to a
:class:`~slolab.tracestore.TraceStore` in the lab folder. ``GET /metrics`` serves
the Collector's own names (``otelcol_receiver_accepted_spans``,
``otelcol_receiver_refused_spans``), so the Prometheus job ``jaeger`` and the
Grafana panel "Traces received by Jaeger" read the same series natively.

Bad input gets a 4xx with a JSON body and costs bounded memory: a body over
``max_batch_bytes`` (also once decompressed) is refused with 413 before it is
read whole, a body that is not an OTLP protobuf with 400, more than
``max_inflight`` batches at once with 429 (the exporters retry it later,
OTLP/HTTP's flow control), and connections beyond ``max_connections`` are
closed unanswered.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from slolab.lab.httpserve import BackgroundHTTPServer, QuietHandler
from slolab.tracestore import DEFAULT_MAX_BYTES, TraceStore, spans_from_otlp

__all__ = ["DEFAULT_MAX_BATCH_BYTES", "OTLPReceiver"]

DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024  # the SDK's batches of 512 spans are ~0.2 MB
PROTOBUF = "application/x-protobuf"
_LABELS = {"receiver": "otlp", "transport": "http"}


class _TooLarge(Exception):
    pass


def _inflate(body: bytes, limit: int) -> bytes:
    """gzip-decompress ``body``, refusing output over ``limit`` bytes (a gzip bomb)."""
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = d.decompress(body, limit + 1)
    if len(out) > limit or d.unconsumed_tail:
        raise _TooLarge
    return out


class OTLPReceiver(BackgroundHTTPServer):
    """An OTLP/HTTP traces endpoint storing into ``store_path``; a context manager."""

    def __init__(
        self,
        store_path: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        max_inflight: int = 4,
        max_connections: int = 64,
        read_timeout: float = 10.0,
    ) -> None:
        self.store = TraceStore(store_path, max_bytes)
        self.max_batch_bytes = max_batch_bytes
        self._slots = threading.BoundedSemaphore(max_inflight)
        self._lock = threading.Lock()
        self.accepted_spans = 0
        self.refused_spans = 0
        self.rejected: Counter[str] = Counter()  # requests answered 4xx, by reason
        receiver = self
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the exporter reuses its session
            timeout = read_timeout  # a silent client frees its thread after this

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self.reply(200, generate_latest(registry), "text/plain; version=0.0.4")
                elif self.path in ("/", "/healthz"):
                    self.reply(200, {"status": "ok", **receiver.counts()})
                elif self.path == "/v1/traces":
                    self.reply(405, {"error": "OTLP traces are POSTed here"})
                else:
                    self.reply(404, {"error": f"no {self.path}; POST /v1/traces, GET /metrics"})

            def do_POST(self) -> None:
                status, body, close = receiver._post(self)
                if close:
                    # The unread body is still on the socket: this connection cannot
                    # carry another request.
                    self.close_connection = True
                if status == 200:
                    self.reply(200, body, PROTOBUF)
                else:
                    self.send_response(status)
                    data = json.dumps(body).encode()
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    if status == 429:
                        self.send_header("Retry-After", "1")
                    if close:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data)

            do_PUT = do_PATCH = do_DELETE = lambda self: self.reply(
                405, {"error": "only POST /v1/traces"}
            )

        super().__init__(Handler, host, port, max_connections=max_connections)
        self.endpoint = self.base_url

    # -- ingest -----------------------------------------------------------------------

    def _refuse(self, reason: str, status: int, message: str, close: bool = False):
        with self._lock:
            self.rejected[reason] += 1
        return status, {"error": message}, close

    def _post(self, h: QuietHandler) -> tuple[int, Any, bool]:
        if h.path != "/v1/traces":
            return self._refuse("path", 404, f"no {h.path}: OTLP traces go to /v1/traces", True)
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != PROTOBUF:
            return self._refuse(
                "content_type", 415, f"Content-Type must be {PROTOBUF}, got {ctype!r}", True
            )
        raw_length = h.headers.get("Content-Length")
        if raw_length is None or not raw_length.isdigit():
            return self._refuse("length", 411, "Content-Length required", True)
        length = int(raw_length)
        if length > self.max_batch_bytes:
            return self._refuse(
                "too_large", 413,
                f"batch of {length} bytes over the limit of {self.max_batch_bytes}", True,
            )  # fmt: skip
        if not self._slots.acquire(blocking=False):
            return self._refuse("busy", 429, "too many batches at once; retry later", True)
        try:
            body = h.rfile.read(length)
            encoding = (h.headers.get("Content-Encoding") or "").strip().lower()
            if encoding == "gzip":
                try:
                    body = _inflate(body, self.max_batch_bytes)
                except _TooLarge:
                    return self._refuse(
                        "too_large", 413,
                        f"batch over the limit of {self.max_batch_bytes} bytes once decompressed",
                    )  # fmt: skip
                except (zlib.error, gzip.BadGzipFile, EOFError):
                    return self._refuse("malformed", 400, "body is not valid gzip")
            elif encoding not in ("", "identity"):
                return self._refuse("encoding", 415, f"Content-Encoding {encoding!r} not supported")
            try:
                request = ExportTraceServiceRequest.FromString(body)
            except (DecodeError, ValueError, RuntimeError) as exc:
                return self._refuse(
                    "malformed", 400, f"body is not an OTLP ExportTraceServiceRequest: {exc}"
                )
            spans, refused = spans_from_otlp(request)
            try:
                stored = self.store.add(spans)
            except sqlite3.Error as exc:  # a full disk, a file removed under the lab
                with self._lock:
                    self.rejected["store"] += 1
                return 503, {"error": f"trace store unavailable: {exc}"}, False
        finally:
            self._slots.release()
        with self._lock:
            self.accepted_spans += stored
            self.refused_spans += refused
        response = ExportTraceServiceResponse()
        if refused:
            response.partial_success.rejected_spans = refused
            response.partial_success.error_message = "spans without a valid trace or span id"
        return 200, response.SerializeToString(), False

    # -- what it reports ----------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        traces, spans = self.store.count()
        return {"traces": traces, "spans": spans}

    def collect(self) -> Iterator[Metric]:
        """Prometheus collector: the Collector's receiver counters, the store's size."""
        with self._lock:
            accepted, refused, rejected = (
                self.accepted_spans, self.refused_spans, dict(self.rejected),
            )  # fmt: skip
        # The OpenTelemetry Collector's own names (no _total), as Jaeger v2 exports them.
        for name, value, doc in (
            ("otelcol_receiver_accepted_spans", accepted, "Spans stored."),
            ("otelcol_receiver_refused_spans", refused, "Spans refused (no valid ids)."),
        ):
            m = Metric(name, doc, "counter")
            m.add_sample(name, _LABELS, value)
            yield m
        req = CounterMetricFamily(
            "slolab_otlp_rejected_requests", "Batches answered 4xx, by reason.", labels=["reason"]
        )
        for reason, n in sorted(rejected.items()):
            req.add_metric([reason], n)
        yield req
        traces, spans = self.store.count()
        for name, value, doc in (
            ("slolab_trace_store_traces", traces, "Traces in the lab's store."),
            ("slolab_trace_store_spans", spans, "Spans in the lab's store."),
            ("slolab_trace_store_bytes", self.store.bytes, "Bytes of stored span rows."),
            ("slolab_trace_store_max_bytes", self.store.max_bytes, "The store's bound."),
        ):
            yield GaugeMetricFamily(name, doc, value=value)

    def stop(self) -> None:
        super().stop()
        self.store.close()
