"""Prometheus metrics of the tasks service (names are part of docs/architecture.md)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from flask import Flask, Request
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

from services.tasks.predictor import REASONS
from slolab.contract import BUCKETS
from slolab.procmetrics import ProcessTreeCollector, forget_dead_workers
from slolab.telemetry import instrumentation_enabled

__all__ = ["BUCKETS", "UNMATCHED", "TasksMetrics", "install_metrics", "multiprocess_enabled"]

# Probes and scrapes are not user traffic: keep them out of the request SLIs.
EXCLUDED_PATHS = (r"^/healthz$", r"^/readyz$", r"^/metrics$")
UNMATCHED = "<unmatched>"


def multiprocess_enabled() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def path(request: Request) -> str:
    """The URL rule of the request, never the raw path: one series per route, not per id."""
    # The function's name is the label name prometheus-flask-exporter uses.
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


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

    With ``SLOLAB_INSTRUMENTATION=off`` (benchmarks) nothing is hooked into the app
    and there is no ``/metrics``; the counters live in a private registry, so the
    code that increments them runs unchanged.
    """
    kwargs = {
        "group_by": path,
        "buckets": BUCKETS,
        "excluded_paths": list(EXCLUDED_PATHS),
    }
    exporter: PrometheusMetrics
    if not instrumentation_enabled():
        registry = CollectorRegistry()
        exporter = PrometheusMetrics(None, registry=registry, **kwargs)  # never init_app'ed
    elif multiprocess_enabled():
        # Serves the sum over all workers' files in PROMETHEUS_MULTIPROC_DIR.
        exporter = _MultiprocessExporter(app, **kwargs)
        registry = exporter.registry
    else:
        registry = CollectorRegistry()
        registry.register(_DefaultRegistry())
        exporter = PrometheusMetrics(app, registry=registry, **kwargs)

    def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(name, doc, labels, registry=registry)

    metrics = TasksMetrics(
        exporter=exporter,
        created=counter("create_task", "Tasks stored."),
        deleted=counter("delete_task", "Tasks deleted."),
        predictor_degraded=counter(
            "tasks_predictor_degraded",
            "Tasks created without an estimate because the predictor failed.",
            ("reason",),
        ),
        feedback_degraded=counter(
            "tasks_feedback_degraded",
            "Ground-truth feedback that could not be forwarded to the predictor.",
            ("reason",),
        ),
        store_unavailable=counter(
            "tasks_store_unavailable", "Requests answered 503 because the store was down."
        ),
    )
    for reason in REASONS:  # every series exists from the start, at 0
        metrics.predictor_degraded.labels(reason=reason)
        metrics.feedback_degraded.labels(reason=reason)
    return metrics
