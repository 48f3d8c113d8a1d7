"""Prometheus metrics of the predictor (names are part of docs/architecture.md).

HTTP metrics come from ``RequestMetrics``, an ASGI middleware recording the series
prometheus-fastapi-instrumentator recorded here before (same names, labels and
buckets) at less cost: the route comes from the router's match instead of matching
every route again per request, and label children are bound once and reused
(docs/benchmarks.md). We serve ``/metrics`` ourselves so that a scraper asking for
OpenMetrics gets the exemplars (``trace_id``) on the latency buckets.

Single process (the default: one uvicorn worker): each app has its own registry
(several apps can live in one test process) which also serves what other modules
registered globally (fault gauge, process metrics). With ``PROMETHEUS_MULTIPROC_DIR``
set (``PREDICTOR_WORKERS`` > 1) every worker writes its values to files there and
``/metrics`` sums them; prometheus_client cannot keep exemplars in that mode.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST as PLAIN
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from slolab.asgi import ResponseWatch
from slolab.contract import (
    BUCKETS,
    MODEL_INFO,
    MODEL_LAST_TRAINED,
    PREDICTOR_DURATION,
    PREDICTOR_FEEDBACK,
    PREDICTOR_FEEDBACK_CORRECT,
    PREDICTOR_PREDICTIONS,
    PREDICTOR_REQUESTS,
)
from slolab.contract import Metric as ContractMetric
from slolab.procmetrics import ProcessTreeCollector
from slolab.services.predictor.model import LABELS
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
EXCLUDED_HANDLERS = frozenset({"/metrics", "/healthz", "/readyz"})
UNTEMPLATED = "none"  # the handler label of a request no route matched


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

    _bound: dict[tuple[str, str, int], tuple[Callable[..., Any], Callable[..., Any]]] = field(
        default_factory=dict
    )

    _predicted: dict[str, Callable[[], None]] = field(default_factory=dict)

    def count_prediction(self, label: str) -> None:
        """``predictor_predictions_total{label}`` += 1, its child bound once per label."""
        inc = self._predicted.get(label)
        if inc is None:
            inc = self._predicted[label] = self.predictions.labels(label=label).inc
        inc()

    def observe_http(self, handler: str, method: str, status: int, seconds: float) -> None:
        """Count and time one request (label children bound once per label set)."""
        key = (handler, method, status)
        bound = self._bound.get(key)
        if bound is None:
            labels = (handler, method, str(status))
            bound = self._bound[key] = (
                self.requests.labels(*labels).inc,
                self.duration.labels(*labels).observe,
            )
        inc, observe = bound
        inc()
        # The span of the request is still current here (the tracing middleware
        # wraps the whole stack), so the bucket links to its trace.
        exemplar = None if self.multiprocess else trace_exemplar(seconds, status >= 500)
        observe(seconds, exemplar)

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

    def gauge(metric: ContractMetric) -> Gauge:
        # mostrecent: the value a worker set last wins. Workers are not marked dead
        # under uvicorn, so a "live" mode would keep a crashed worker's value forever.
        return Gauge(
            metric.name, metric.help, metric.labels, registry=registry,
            multiprocess_mode="mostrecent",
        )  # fmt: skip

    def counter(metric: ContractMetric) -> Counter:
        return Counter(metric.name, metric.help, metric.labels, registry=registry)

    metrics = PredictorMetrics(
        registry=registry,
        multiprocess=mp,
        requests=counter(PREDICTOR_REQUESTS),
        duration=Histogram(
            PREDICTOR_DURATION.name,
            PREDICTOR_DURATION.help,
            PREDICTOR_DURATION.labels,
            buckets=BUCKETS,
            registry=registry,
        ),
        predictions=counter(PREDICTOR_PREDICTIONS),
        feedback=counter(PREDICTOR_FEEDBACK),
        feedback_correct=counter(PREDICTOR_FEEDBACK_CORRECT),
        last_trained=gauge(MODEL_LAST_TRAINED),
        model_info=gauge(MODEL_INFO),
    )
    for label in LABELS:  # every series exists from the start, at 0
        metrics.predictions.labels(label=label)

    if instrumentation_enabled():  # SLOLAB_INSTRUMENTATION=off (benchmarks): no HTTP metrics
        app.add_middleware(RequestMetrics, metrics=metrics, excluded=frozenset(excluded))
    return metrics


class RequestMetrics:
    """ASGI middleware: ``http_requests_total`` and ``http_request_duration_seconds``.

    The handler is the matched route's path template (Starlette leaves the route in
    the scope), ``none`` when no route matched; a request answered before routing
    (a 413 from the body limit) is matched against the routes once, after the
    fact, so it still counts under its route.
    """

    def __init__(self, app: Any, metrics: PredictorMetrics, excluded: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.excluded = excluded

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in self.excluded:
            await self.app(scope, receive, send)
            return
        watch = ResponseWatch(send)
        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, watch)
        finally:
            seconds = time.perf_counter() - t0
            handler = _handler(scope, watch.status)
            if handler not in self.excluded:
                self.metrics.observe_http(handler, scope["method"], watch.status, seconds)


def _handler(scope: dict[str, Any], status: int) -> str:
    route = scope.get("route")
    if route is not None:
        # The router also leaves a route matched by path only (405): not the handler.
        return UNTEMPLATED if status == 405 else route.path
    from starlette.routing import Match

    app = scope.get("app")
    for candidate in getattr(getattr(app, "router", None), "routes", ()):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return candidate.path
    return UNTEMPLATED


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
