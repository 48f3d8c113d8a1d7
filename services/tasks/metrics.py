"""Prometheus metrics of the tasks service (names are part of docs/architecture.md)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

from slolab.contract import (
    BUCKETS,
    TASKS_CREATED,
    TASKS_DELETED,
    TASKS_DURATION,
    TASKS_FEEDBACK_DEGRADED,
    TASKS_PREDICTOR_DEGRADED,
    TASKS_REQUESTS,
    TASKS_STORE_UNAVAILABLE,
)
from slolab.contract import Metric as ContractMetric
from slolab.httptrace import ROUTE_KEY, remember_flask_routes
from slolab.procmetrics import ProcessTreeCollector, forget_dead_workers
from slolab.services.tasks.predictor_client import REASONS
from slolab.telemetry import instrumentation_enabled

__all__ = ["BUCKETS", "UNMATCHED", "TasksMetrics", "install_metrics", "multiprocess_enabled"]

# Probes and scrapes are not user traffic: keep them out of the request SLIs.
EXCLUDED = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED = "<unmatched>"


def multiprocess_enabled() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class _DefaultRegistry:
    """Expose the process-wide registry (fault gauge, process metrics) through an app's own.

    Without multiprocess mode each app gets a fresh registry, so that several apps
    can live in one process (tests); what other modules register globally is
    still served.
    """

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


class _MultiprocessExporter(GunicornInternalPrometheusMetrics):
    """The library's multiprocess exporter (any pre-fork server, despite its name),
    plus CPU and memory of the server's tree.

    Multiprocess mode has no process_* metrics and the library builds a fresh
    registry per scrape, so the tree collector is added to that output here.
    Dead workers' live gauges are dropped first (see forget_dead_workers).
    """

    _tree = ProcessTreeCollector(os.getppid)  # a worker's parent is the master

    def generate_metrics(self, accept_header=None, names=None):  # type: ignore[no-untyped-def]
        forget_dead_workers(os.environ["PROMETHEUS_MULTIPROC_DIR"], os.getppid())
        content, content_type = super().generate_metrics(accept_header, names)
        if names is None:
            extra = CollectorRegistry(auto_describe=False)
            extra.register(self._tree)
            encoder, _ = choose_encoder(accept_header)
            text = encoder(extra).decode()
            if content.endswith("# EOF\n"):  # OpenMetrics ends with one EOF marker
                text = text.replace("# EOF\n", "")
                content = content[: -len("# EOF\n")] + text + "# EOF\n"
            else:
                content += text
        return content, content_type


class RequestMetrics:
    """WSGI middleware: ``flask_http_request_total`` and ``..._duration_seconds``.

    The names, labels and buckets prometheus-flask-exporter gave them (the contract
    of docs/architecture.md), at less cost: no Flask hooks, no regular expressions
    per request, and label children bound once per (method, route, status) and
    reused — a request costs a clock read, one dict lookup and the writes.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], registry: CollectorRegistry | None):
        self.app = app
        self.total = Counter(
            TASKS_REQUESTS.name, TASKS_REQUESTS.help, TASKS_REQUESTS.labels, registry=registry
        )
        self.duration = Histogram(
            TASKS_DURATION.name, TASKS_DURATION.help, TASKS_DURATION.labels,
            buckets=BUCKETS, registry=registry,
        )  # fmt: skip
        self._bound: dict[tuple[str, str, int], tuple[Callable[..., Any], Callable[..., Any]]] = {}

    def _children(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        key = (method, route, status)
        bound = self._bound.get(key)
        if bound is None:
            code = str(status)
            bound = self._bound[key] = (
                self.duration.labels(method, route, code).observe,
                self.total.labels(method, code).inc,
            )
        return bound

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") in EXCLUDED:
            return self.app(environ, start_response)
        status = [500]

        def start(code: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            status[0] = int(code[:3])
            return start_response(code, headers, *exc)

        t0 = time.perf_counter()
        body = self.app(environ, start)
        elapsed = time.perf_counter() - t0
        route = environ.get(ROUTE_KEY) or UNMATCHED
        observe, inc = self._children(environ.get("REQUEST_METHOD", "GET"), route, status[0])
        observe(elapsed)
        inc()
        return body


@dataclass(frozen=True)
class TasksMetrics:
    exporter: PrometheusMetrics
    created: Counter
    deleted: Counter
    predictor_degraded: Counter
    feedback_degraded: Counter
    store_unavailable: Counter


def install_metrics(app: Flask) -> TasksMetrics:
    """Instrument ``app`` and serve ``/metrics``; multiprocess-correct under a pre-fork server.

    prometheus-flask-exporter serves ``/metrics`` (the sum over all workers' files
    in multiprocess mode); the request metrics are ``RequestMetrics``'. With
    ``SLOLAB_INSTRUMENTATION=off`` (benchmarks) nothing is hooked into the app
    and there is no ``/metrics``; the counters live in a private registry, so the
    code that increments them runs unchanged.
    """
    kwargs = {"export_defaults": False}
    exporter: PrometheusMetrics
    if not instrumentation_enabled():
        registry = CollectorRegistry()
        exporter = PrometheusMetrics(None, registry=registry, **kwargs)  # never init_app'ed
    elif multiprocess_enabled():
        exporter = _MultiprocessExporter(app, **kwargs)
        registry = exporter.registry
    else:
        registry = CollectorRegistry()
        registry.register(_DefaultRegistry())
        exporter = PrometheusMetrics(app, registry=registry, **kwargs)
    if instrumentation_enabled():
        remember_flask_routes(app)
        app.wsgi_app = RequestMetrics(app.wsgi_app, registry)  # type: ignore[method-assign]

    def counter(metric: ContractMetric) -> Counter:
        return Counter(metric.name, metric.help, metric.labels, registry=registry)

    metrics = TasksMetrics(
        exporter=exporter,
        created=counter(TASKS_CREATED),
        deleted=counter(TASKS_DELETED),
        predictor_degraded=counter(TASKS_PREDICTOR_DEGRADED),
        feedback_degraded=counter(TASKS_FEEDBACK_DEGRADED),
        store_unavailable=counter(TASKS_STORE_UNAVAILABLE),
    )
    for reason in REASONS:  # every series exists from the start, at 0
        metrics.predictor_degraded.labels(reason=reason)
        metrics.feedback_degraded.labels(reason=reason)
    return metrics
