"""Prometheus metrics of the predictor (names are part of docs/architecture.md).

HTTP metrics come from prometheus-fastapi-instrumentator with our own metric
function: its default latency histogram has no ``status`` label and only the
0.1/0.5/1 s buckets, and its ``expose()`` only speaks the plain text format. We
serve ``/metrics`` ourselves so that a scraper asking for OpenMetrics gets the
exemplars (``trace_id``) on the latency buckets.

Single process (the default: one uvicorn worker): each app has its own registry
(several apps can live in one test process) which also serves what other modules
registered globally (fault gauge, process metrics). With ``PROMETHEUS_MULTIPROC_DIR``
set (``PREDICTOR_WORKERS`` > 1) every worker writes its values to files there and
``/metrics`` sums them; prometheus_client cannot keep exemplars in that mode.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST as PLAIN
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.metrics import Info

from services.predictor.model import LABELS
from slolab.contract import BUCKETS
from slolab.procmetrics import ProcessTreeCollector
from slolab.telemetry import instrumentation_enabled, trace_exemplar

__all__ = [
    "BUCKETS",
    "EXCLUDED_HANDLERS",
    "PredictorMetrics",
    "install_metrics",
    "multiprocess_enabled",
    "render",
]

# Probes and scrapes are not user traffic: keep them out of the request SLIs.
EXCLUDED_HANDLERS = ("^/metrics$", "^/healthz$", "^/readyz$")
HTTP_LABELS = ("handler", "method", "status")


def multiprocess_enabled() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class _DefaultRegistry:
    """Serve the process-wide registry through an app's own (fault gauge, process_*)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


@dataclass(frozen=True)
class PredictorMetrics:
    registry: CollectorRegistry
    multiprocess: bool
    requests: Counter
    duration: Histogram
    predictions: Counter
    feedback: Counter
    feedback_correct: Counter
    last_trained: Gauge
    model_info: Gauge

    def observe_http(self, info: Info) -> None:
        """The instrumentator's metric function: count and time one request."""
        labels = (info.modified_handler, info.method, info.modified_status)
        self.requests.labels(*labels).inc()
        # The span of the request is still current here (the tracing middleware
        # wraps the whole stack), so the bucket links to its trace.
        failed = info.modified_status.startswith("5")
        exemplar = None if self.multiprocess else trace_exemplar(info.modified_duration, failed)
        self.duration.labels(*labels).observe(info.modified_duration, exemplar)

    def set_model(self, version: str, previous: str | None) -> None:
        if previous is not None and previous != version:
            # In multiprocess mode a removed series lingers in the files: zero it first.
            self.model_info.labels(version=previous).set(0)
            self.model_info.remove(previous)
        self.model_info.labels(version=version).set(1)


def install_metrics(app, excluded: Iterable[str] = EXCLUDED_HANDLERS) -> PredictorMetrics:  # type: ignore[no-untyped-def]
    """Instrument ``app`` (a FastAPI app) and return its metrics; /metrics is served by app.py."""
    mp = multiprocess_enabled()
    registry = CollectorRegistry()
    if not mp:
        registry.register(_DefaultRegistry())

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        # mostrecent: the value a worker set last wins. Workers are not marked dead
        # under uvicorn, so a "live" mode would keep a crashed worker's value forever.
        return Gauge(name, doc, labels, registry=registry, multiprocess_mode="mostrecent")

    metrics = PredictorMetrics(
        registry=registry,
        multiprocess=mp,
        requests=Counter(
            "http_requests_total", "HTTP requests by handler, method and exact status.",
            HTTP_LABELS, registry=registry,
        ),
        duration=Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by handler, method and exact status.",
            HTTP_LABELS, buckets=BUCKETS, registry=registry,
        ),
        predictions=Counter(
            "predictor_predictions_total", "Predictions answered, by label.", ("label",),
            registry=registry,
        ),
        feedback=Counter(
            "predictor_feedback_total", "Ground-truth feedback received (counted once).",
            registry=registry,
        ),
        feedback_correct=Counter(
            "predictor_feedback_correct_total",
            "Feedback whose true label matched the prediction.",
            registry=registry,
        ),
        last_trained=gauge(
            "model_last_trained_timestamp_seconds", "Unix time the served model was trained."
        ),
        model_info=gauge("model_info", "The served model's version (always 1).", ("version",)),
    )  # fmt: skip
    for label in LABELS:  # every series exists from the start, at 0
        metrics.predictions.labels(label=label)

    instrumentator = Instrumentator(
        should_group_status_codes=False,  # exact codes: 503 and 500 are different stories
        should_ignore_untemplated=False,
        should_group_untemplated=True,  # unknown paths share handler="none"
        excluded_handlers=list(excluded),
        registry=registry,
    )
    instrumentator.add(metrics.observe_http)  # replaces the library's default metrics
    if instrumentation_enabled():  # SLOLAB_INSTRUMENTATION=off (benchmarks): no HTTP metrics
        instrumentator.instrument(app)
    return metrics


def render(metrics: PredictorMetrics, accept: str | None) -> tuple[bytes, str]:
    """Encode the metrics for a scrape: OpenMetrics when asked for, plain text otherwise."""
    try:
        encoder, content_type = choose_encoder(accept or "")
    except (ValueError, TypeError):  # a malformed version parameter (TypeError in 0.26)
        encoder, content_type = generate_latest, PLAIN
    if metrics.multiprocess:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        # Multiprocess mode has no process_* metrics: report the whole uvicorn tree.
        registry.register(ProcessTreeCollector(os.getppid))
    else:
        registry = metrics.registry
    return encoder(registry), content_type
