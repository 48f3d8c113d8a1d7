"""Service overview dashboards: the golden signals and the business metrics of each service.

One dashboard per service with the SLIs of a service overview: request rate,
errors, latency percentiles, per-endpoint traffic, CPU, memory and uptime, plus
what is particular to the service (task churn and degraded predictor calls;
predictions, accuracy and model age). Metric names: docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dash

from slolab.contract import (
    FAULT_METRIC,
    JOBS,
    MODEL_INFO,
    MODEL_LAST_TRAINED,
    PREDICTOR_DURATION,
    PREDICTOR_FEEDBACK,
    PREDICTOR_FEEDBACK_CORRECT,
    PREDICTOR_PREDICTIONS,
    PREDICTOR_REQUESTS,
    TASKS_CREATED,
    TASKS_DELETED,
    TASKS_DURATION,
    TASKS_FEEDBACK_DEGRADED,
    TASKS_PREDICTOR_DEGRADED,
    TASKS_REQUESTS,
    TASKS_STORE_UNAVAILABLE,
)
from slolab.dashboards.panels import (
    Query,
    faults_annotation,
    graph,
    number_panels,
    query,
    single,
    thresholds,
)
from slolab.slo import promql
from slolab.slo.model import SLO, SampleSLI, SLIKind

__all__ = ["predictor_overview", "tasks_overview"]

RATE = "$__rate_interval"
# cAdvisor runs under docker compose only (not in the lab, and in Kubernetes the
# kubelet's own cAdvisor is scraped under another job). Before v0.54 it exported no
# per-container series on Docker's containerd image store yet reported healthy:
# the panel says so instead of drawing an empty graph.
NO_CADVISOR = "No data from cAdvisor (it runs under docker compose only; docs/stack.md)"
QUANTILES = (0.5, 0.95, 0.99)
TAGS = ["slolab", "service"]


def _base(uid: str, title: str, description: str, job: str) -> dash_b.Dashboard:
    return (
        dash_b.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .refresh("10s")
        .time("now-1h", "now")
        .timezone("browser")
        .tooltip(dash.DashboardCursorSync.CROSSHAIR)
        .readonly()
        .annotation(faults_annotation(f'job="{job}"'))
    )


def _error_ratio(counter: str, job: str) -> str:
    # No 5xx yet means no 5xx series: count it as 0, not as "no data".
    bad = promql.sum_rate(f'{counter}{{job="{job}", status=~"5.."}}', RATE)
    return promql.guarded_ratio(
        f"{bad} or vector(0)", promql.sum_rate(f'{counter}{{job="{job}"}}', RATE)
    )


def _rate(metric: str, job: str, legend: str, by: str = "") -> Query:
    """Per-second rate of one counter of ``job``, summed (``by`` some labels)."""
    return query(promql.sum_rate(f'{metric}{{job="{job}"}}', RATE, by=by), legend)


def _endpoints(histogram: str, job: str, rate_by: str, p95_by: str) -> list:
    """Request rate and p95 latency per endpoint, from the request histogram."""

    def legend(by: str) -> str:
        return " ".join(f"{{{{{label}}}}}" for label in by.split(", "))

    return [
        graph(
            "Request rate by endpoint",
            [_rate(f"{histogram}_count", job, legend(rate_by), by=rate_by)],
            unit="reqps",
            width=12,
        ),
        graph(
            "p95 latency by endpoint",
            [
                query(
                    promql.quantile(0.95, f'{histogram}_bucket{{job="{job}"}}', RATE, by=p95_by),
                    legend(p95_by),
                    exemplar=True,
                )
            ],
            unit="s",
            width=12,
        ),
    ]


def _golden_signals(
    requests: str, histogram: str, job: str, latency_note: str | None = None
) -> list:
    """Request rate by status, 5xx ratio and latency percentiles of one service."""
    extra = {"description": latency_note} if latency_note else {}
    return [
        graph(
            "Request rate by status",
            [_rate(requests, job, "{{status}}", by="status")],
            unit="reqps",
        ),
        graph(
            "Error ratio (5xx)",
            [query(_error_ratio(requests, job), "5xx share")],
            unit="percentunit",
            min_value=0,
        ),
        graph("Latency percentiles", _latency(histogram, job), unit="s", **extra),
        graph(
            "Average latency",
            [
                query(
                    promql.per(
                        promql.sum_rate(f'{histogram}_sum{{job="{job}"}}', RATE),
                        promql.sum_rate(f'{histogram}_count{{job="{job}"}}', RATE),
                    ),
                    "mean",
                )
            ],
            unit="s",
            description="Mean request time (histogram sum / count): what a slow tail adds "
            "to every request on average; the percentiles show the shape.",
        ),
        graph(
            "Traces received by Jaeger",
            [
                query(promql.sum_rate("otelcol_receiver_accepted_spans", RATE), "spans accepted"),
                query(promql.sum_rate("otelcol_receiver_refused_spans", RATE), "spans refused"),
            ],
            unit="short",
            description="Spans per second Jaeger accepted over OTLP (its own metrics, job "
            "jaeger; in the native lab the lab's trace receiver exports the same series). "
            "Both services send their kept traces; refused spans mean Jaeger is overloaded.",
        ),
    ]


def _latency(histogram: str, job: str, by: str = "") -> list:
    legend = f"p{{q}} {{{{{by}}}}}" if by else "p{q}"
    return [
        query(
            promql.quantile(q, f'{histogram}_bucket{{job="{job}"}}', RATE, by=by),
            legend.format(q=round(q * 100)),
            exemplar=True,
        )
        for q in QUANTILES
    ]


def _saturation_and_uptime(job: str, uptime_expr: str, uptime_legend: str) -> list:
    """CPU, memory, uptime and faults: the same on both services."""
    # compose names containers <project>-<service>-<n>; the service is named as the job
    container = f'name=~".+-{job}-[0-9]+"'
    return [
        graph(
            "CPU",
            [query(promql.rate(f'process_cpu_seconds_total{{job="{job}"}}', RATE), "{{instance}}")],
            unit="percentunit",
            description="CPU seconds per second of the whole server (all workers); 1 = one core.",
        ),
        graph(
            "Memory (RSS)",
            [query(f'process_resident_memory_bytes{{job="{job}"}}', "{{instance}}")],
            unit="bytes",
            description="Resident memory of the whole server (all workers).",
        ),
        graph(
            "Uptime",
            [
                query(uptime_expr, uptime_legend),
                query(f'up{{job="{job}"}}', "scrape up {{instance}}"),
            ],
            min_value=0,
            max_value=1,
            description="1 while the target answers; 0 while it is down.",
        ),
        single(
            "Availability over the range",
            query(f"avg(avg_over_time({uptime_expr}[$__range]))", instant=True),
            unit="percentunit",
            decimals=3,
            steps=thresholds((None, "red"), (0.99, "orange"), (0.999, "green")),
            width=6,
        ),
        single(
            "Active faults",
            query(f'sum({FAULT_METRIC}{{job="{job}"}})', instant=True),
            description="Injected faults switched on now (PUT /admin/faults).",
            steps=thresholds((None, "green"), (1, "red")),
            width=6,
        ),
        graph(
            "Faults over time",
            [query(f'max by (fault) ({FAULT_METRIC}{{job="{job}"}})', "{{fault}}")],
            min_value=0,
            max_value=1,
            width=12,
            height=6,
        ),
        graph(
            "Container memory and its limit (cAdvisor)",
            [
                query(
                    f'container_memory_working_set_bytes{{job="cadvisor", {container}}}',
                    "working set {{name}}",
                ),
                query(
                    f'container_spec_memory_limit_bytes{{job="cadvisor", {container}}}',
                    "mem_limit {{name}}",
                ),
            ],
            unit="bytes",
            description="What the container is charged for (the OOM killer acts at its "
            "mem_limit), from cAdvisor under docker compose.",
            width=24,
            height=6,
            no_value=NO_CADVISOR,
        ),
    ]


def _close(board: dash_b.Dashboard, job: str, probe: str, legend: str) -> dash.Dashboard:
    """Add the last row (saturation, uptime, faults; uptime from the ``probe`` job), number
    the panels and build."""
    uptime = f'probe_success{{job="{JOBS[probe]}"}}'
    board = _row(
        board, "Saturation, uptime and faults", _saturation_and_uptime(job, uptime, legend)
    )
    return number_panels(board.build())


def _row(board: dash_b.Dashboard, title: str, panels: Sequence) -> dash_b.Dashboard:
    board = board.with_row(dash_b.Row(title))
    for panel in panels:
        board = board.with_panel(panel)
    return board


def tasks_overview(slos: Sequence[SLO] = ()) -> dash.Dashboard:
    """The tasks service (Flask under gunicorn)."""
    del slos  # nothing SLO-specific here; the SLO dashboard has the targets
    job, hist = JOBS["tasks"], TASKS_DURATION.name
    board = _base(
        "slolab-tasks",
        "Tasks service",
        "Golden signals of the tasks service. Generated by slolab.dashboards — do not edit.",
        job,
    )
    board = _row(board, "Golden signals", _golden_signals(TASKS_REQUESTS.name, hist, job))
    board = _row(board, "Endpoints", _endpoints(hist, job, "method, path", "method, path"))
    board = _row(
        board,
        "Tasks and dependencies",
        [
            graph(
                "Tasks created and deleted",
                [
                    _rate(TASKS_CREATED.name, job, "created"),
                    _rate(TASKS_DELETED.name, job, "deleted"),
                ],
                unit="ops",
            ),
            graph(
                "Degraded predictor calls",
                [
                    _rate(TASKS_PREDICTOR_DEGRADED.name, job, "estimate: {{reason}}", by="reason"),
                    _rate(TASKS_FEEDBACK_DEGRADED.name, job, "feedback: {{reason}}", by="reason"),
                ],
                unit="ops",
                description="Tasks stored without an estimate, and ground truth not forwarded.",
            ),
            graph(
                "Store unavailable (503)",
                [_rate(TASKS_STORE_UNAVAILABLE.name, job, "503 store down")],
                unit="reqps",
            ),
        ],
    )
    return _close(board, job, "blackbox-tasks", "probe /api/tasks")


def _max_model_age(slos: Sequence[SLO]) -> float | None:
    """The freshness SLO's age limit, so the model-age panel turns red where the SLI fails."""
    for slo in slos:
        if isinstance(slo.sli, SampleSLI) and slo.sli.kind is SLIKind.FRESHNESS:
            return slo.sli.limit
    return None


def predictor_overview(slos: Sequence[SLO] = ()) -> dash.Dashboard:
    """The predictor service (FastAPI, scikit-learn model)."""
    job, hist = JOBS["predictor"], PREDICTOR_DURATION.name
    board = _base(
        "slolab-predictor",
        "Predictor service",
        "Golden signals and model health of the predictor. "
        "Generated by slolab.dashboards — do not edit.",
        job,
    )
    board = _row(
        board,
        "Golden signals",
        _golden_signals(
            PREDICTOR_REQUESTS.name,
            hist,
            job,
            latency_note="Diamonds are exemplars: click one to open its trace in Jaeger.",
        ),
    )
    board = _row(board, "Endpoints", _endpoints(hist, job, "method, handler", "handler"))
    max_age = _max_model_age(slos)
    age_steps = (
        thresholds((None, "green"), (max_age, "red")) if max_age else thresholds((None, "blue"))
    )
    board = _row(
        board,
        "Model",
        [
            graph(
                "Predictions by label",
                [
                    _rate(PREDICTOR_PREDICTIONS.name, job, "{{label}}", by="label"),
                    _rate(PREDICTOR_FEEDBACK.name, job, "feedback received"),
                ],
                unit="ops",
            ),
            graph(
                "Accuracy from feedback (1h)",
                [
                    query(
                        promql.sum_increase(
                            f'{PREDICTOR_FEEDBACK_CORRECT.name}{{job="{job}"}}', "1h"
                        )
                        + " / "
                        + promql.sum_increase(f'{PREDICTOR_FEEDBACK.name}{{job="{job}"}}', "1h"),
                        "correct share",
                    ),
                ],
                unit="percentunit",
                description="Share of predictions with ground truth that were right, over 1h "
                "(no value until feedback arrives).",
            ),
            single(
                "Model age",
                query(
                    f'time() - max({MODEL_LAST_TRAINED.name}{{job="{job}"}})',
                    instant=True,
                ),
                unit="s",
                steps=age_steps,
                width=4,
            ),
            single(
                "Model version",
                query(
                    f'max by (version) ({MODEL_INFO.name}{{job="{job}"}})',
                    "{{version}}",
                    instant=True,
                ),
                description=f"The version label of {MODEL_INFO.name}.",
                width=4,
            ).text_mode(common.BigValueTextMode.NAME),
        ],
    )
    return _close(board, job, "blackbox-predictor", "probe /model")
