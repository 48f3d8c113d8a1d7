"""The demo's shared facts, written once: ports, metric names, buckets, faults, scenarios.

Every part of slolab that needs one of these imports it from here: the services,
the lab, the CLI, the dashboards, the bench and the tests. What cannot import
Python (``docker-compose.yml``, Prometheus configs, ``slos.yaml``) or runs
without slolab installed (``loadgen/`` in the stock Locust image) keeps a copy
that ``tests/test_contract.py`` holds equal to this module.

The generic SLO toolkit (``slolab.slo``) does not import this module: it works
for any user's services. What the toolkit needs to know of the demo comes from
``slos.yaml`` (its histograms' buckets) and from ``slolab.demo.registry()`` (its
dashboards, its webhook), handed to the toolkit by the ``slolab`` command.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "ALERT_RECEIVER_URL",
    "BUCKETS",
    "COMPONENT_PORTS",
    "FAULTS",
    "FAULT_HELP",
    "FAULT_LIMITS",
    "FAULT_METRIC",
    "HTTP_METRICS",
    "JOBS",
    "KNOWN_METHODS",
    "PORTS",
    "SCENARIOS",
    "SERVICES",
    "Fault",
    "Metric",
    "faults_of",
    "metrics_of",
]

# --- services and ports -------------------------------------------------------
SERVICES: Final = ("tasks", "predictor")

# component -> TCP port, the same natively and under compose
PORTS: Final = MappingProxyType(
    {
        "tasks": 8081,
        "predictor": 8082,
        "prometheus": 9090,
        "alertmanager": 9093,
        "blackbox": 9115,
        "locust": 8089,
        "dashboard": 8090,
        "grafana": 3000,
        "jaeger-ui": 16686,
        "otlp-grpc": 4317,
        "otlp-http": 4318,
        "lab-webhook": 9097,
    }
)
# component -> (default port, environment variable that overrides it) for the native lab
COMPONENT_PORTS: Final = MappingProxyType(
    {
        "tasks": (PORTS["tasks"], "TASKS_PORT"),
        "predictor": (PORTS["predictor"], "PREDICTOR_PORT"),
        "prometheus": (PORTS["prometheus"], "PROMETHEUS_PORT"),
        "alertmanager": (PORTS["alertmanager"], "ALERTMANAGER_PORT"),
        "blackbox": (PORTS["blackbox"], "BLACKBOX_PORT"),
        "locust": (PORTS["locust"], "LOCUST_PORT"),
        "dashboard": (PORTS["dashboard"], "DASHBOARD_PORT"),
        "webhook": (PORTS["lab-webhook"], "LAB_WEBHOOK_PORT"),
        # OTLP/HTTP in: the lab's trace receiver, or Jaeger's receiver when it runs Jaeger
        "otlp": (PORTS["otlp-http"], "LAB_OTLP_PORT"),
        "jaeger": (PORTS["jaeger-ui"], "LAB_JAEGER_PORT"),  # Jaeger's UI, when it runs
    }
)

# Where Alertmanager reaches `slolab alert-receiver` under compose (its service name)
ALERT_RECEIVER_URL: Final = "http://alert-receiver:5001/alerts"

# Prometheus job names (scrape configs, SLO selectors, dashboards)
JOBS: Final = MappingProxyType(
    {
        "tasks": "tasks",
        "predictor": "predictor",
        "blackbox-tasks": "blackbox-tasks",
        "blackbox-predictor": "blackbox-predictor",
    }
)


# HTTP methods both services route; anything else is a 405 before routing, so that a
# made-up method never becomes a new metrics label value
KNOWN_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# --- metrics ------------------------------------------------------------------
# Latency histogram boundaries of both services, in seconds. They include every
# latency SLO threshold (0.1, 0.2, 0.5 s): a threshold between two boundaries
# would be interpolated, i.e. invented. prometheus_client's default lacks 0.2.
BUCKETS: Final[tuple[float, ...]] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


@dataclass(frozen=True)
class Metric:
    """One exposed metric family: the name as scraped, its type and labels."""

    service: str
    name: str
    type: str
    labels: tuple[str, ...] = ()
    help: str = ""


# 1 while a fault is switched on (label ``fault``): the dashboard's "faults on" list.
FAULT_METRIC: Final = "slolab_fault_active"
FAULT_HELP: Final = "1 while an injected fault is switched on, else 0."

# Each family once, with the help text the service exposes; the services create
# their collectors from these, the dashboards, history and soak query them.
# tasks (the names prometheus-flask-exporter gave them: a contract of the seed)
TASKS_REQUESTS: Final = Metric(
    "tasks",
    "flask_http_request_total",
    "counter",
    ("method", "status"),
    "Total number of HTTP requests",
)
TASKS_DURATION: Final = Metric(
    "tasks",
    "flask_http_request_duration_seconds",
    "histogram",
    ("method", "path", "status"),
    "Flask HTTP request duration in seconds",
)
TASKS_CREATED: Final = Metric("tasks", "create_task_total", "counter", (), "Tasks stored.")
TASKS_DELETED: Final = Metric("tasks", "delete_task_total", "counter", (), "Tasks deleted.")
TASKS_PREDICTOR_DEGRADED: Final = Metric(
    "tasks",
    "tasks_predictor_degraded_total",
    "counter",
    ("reason",),
    "Tasks created without an estimate because the predictor failed.",
)
TASKS_FEEDBACK_DEGRADED: Final = Metric(
    "tasks",
    "tasks_feedback_degraded_total",
    "counter",
    ("reason",),
    "Ground-truth feedback that could not be forwarded to the predictor.",
)
TASKS_STORE_UNAVAILABLE: Final = Metric(
    "tasks",
    "tasks_store_unavailable_total",
    "counter",
    (),
    "Requests answered 503 because the store was down.",
)
# predictor (slolab.services.predictor.metrics.RequestMetrics)
PREDICTOR_REQUESTS: Final = Metric(
    "predictor",
    "http_requests_total",
    "counter",
    ("handler", "method", "status"),
    "HTTP requests by handler, method and exact status.",
)
PREDICTOR_DURATION: Final = Metric(
    "predictor",
    "http_request_duration_seconds",
    "histogram",
    ("handler", "method", "status"),
    "HTTP request latency by handler, method and exact status.",
)
PREDICTOR_PREDICTIONS: Final = Metric(
    "predictor",
    "predictor_predictions_total",
    "counter",
    ("label",),
    "Predictions answered, by label.",
)
PREDICTOR_FEEDBACK: Final = Metric(
    "predictor",
    "predictor_feedback_total",
    "counter",
    (),
    "Ground-truth feedback received (counted once).",
)
PREDICTOR_FEEDBACK_CORRECT: Final = Metric(
    "predictor",
    "predictor_feedback_correct_total",
    "counter",
    (),
    "Feedback whose true label matched the prediction.",
)
MODEL_LAST_TRAINED: Final = Metric(
    "predictor",
    "model_last_trained_timestamp_seconds",
    "gauge",
    (),
    "Unix time the served model was trained.",
)
MODEL_INFO: Final = Metric(
    "predictor", "model_info", "gauge", ("version",), "The served model's version (always 1)."
)

# service -> (request counter, latency histogram): the HTTP families of each service
HTTP_METRICS: Final = MappingProxyType(
    {
        "tasks": (TASKS_REQUESTS, TASKS_DURATION),
        "predictor": (PREDICTOR_REQUESTS, PREDICTOR_DURATION),
    }
)

_METRICS: Final = (
    TASKS_REQUESTS, TASKS_DURATION, TASKS_CREATED, TASKS_DELETED, TASKS_PREDICTOR_DEGRADED,
    TASKS_FEEDBACK_DEGRADED, TASKS_STORE_UNAVAILABLE,
    PREDICTOR_REQUESTS, PREDICTOR_DURATION, PREDICTOR_PREDICTIONS, PREDICTOR_FEEDBACK,
    PREDICTOR_FEEDBACK_CORRECT, MODEL_LAST_TRAINED, MODEL_INFO,
    *(Metric(service, FAULT_METRIC, "gauge", ("fault",), FAULT_HELP) for service in SERVICES),
)  # fmt: skip


def metrics_of(service: str) -> tuple[Metric, ...]:
    """The metric families ``service`` exposes (beyond process_* and python_*)."""
    return tuple(m for m in _METRICS if m.service == service)


# --- faults -------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    """One injectable fault: its name, which services take it, and what it does."""

    name: str
    services: tuple[str, ...]
    kind: str  # "ratio" (0-1), "milliseconds" or "switch"
    description: str
    # the range chaos draws from: (low, high) for numbers; None for switches
    chaos_range: dict[str, tuple[float, float]] | None = None


# the values a fault of each kind accepts (switches: on or off)
FAULT_LIMITS: Final = MappingProxyType({"ratio": (0.0, 1.0), "milliseconds": (0, 60_000)})

FAULTS: Final = (
    Fault("error_rate", SERVICES, "ratio", "share of API requests answered 500",
          {"tasks": (0.05, 0.5), "predictor": (0.05, 0.5)}),
    Fault("latency_ms", SERVICES, "milliseconds", "delay added to every API request",
          {"tasks": (200, 1500), "predictor": (100, 800)}),
    Fault("store_outage", ("tasks",), "switch",
          "the task store answers as if down: every API request is a 503"),
    Fault("predictor_unreachable", ("tasks",), "switch",
          "calls to the predictor fail: tasks are stored without an estimate"),
    Fault("model_drift", ("predictor",), "switch",
          "the model answers wrong labels: the accuracy SLI falls"),
    Fault("stale_model", ("predictor",), "switch",
          "the freshness gauge reports an old training time"),
)  # fmt: skip


def faults_of(service: str) -> tuple[Fault, ...]:
    """The faults ``service`` accepts, in catalogue order."""
    return tuple(f for f in FAULTS if service in f.services)


# --- load scenarios -------------------------------------------------------------
SCENARIOS: Final = ("steady", "ramp", "spike", "budget-burn", "chaos")
