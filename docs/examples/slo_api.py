"""The SLO toolkit from Python: the design documents' four roles (see docs/python-api.md).

    .venv/bin/python docs/examples/slo_api.py [SLOS_FILE]

reads the SLOs of slos.yaml (or SLOS_FILE) from Prometheus at $PROMETHEUS_URL
(default http://127.0.0.1:9090, the lab's) and prints what each role answers.
"""

from __future__ import annotations

import sys

from prometheus_client import CollectorRegistry

from slolab.slo.api import ErrorBudgetCalculator, SLITracker, SLOReporter, SLOTrackingSystem

slos_file = sys.argv[1] if len(sys.argv) > 1 else "slos.yaml"

# ErrorBudgetCalculator: the arithmetic, no Prometheus needed.
calc = ErrorBudgetCalculator(99.9, window_days=30)
print(f"budget: {calc.allowed_error_rate():g} of requests, {calc.allowed_downtime()} of downtime")
print(
    f"after 15 days at 0.05% errors: {calc.remaining_budget(0.0005, 15):.0%} left, "
    f"burn rate {calc.burn_rate(0.0005):g}, lasts {calc.time_to_exhaustion(0.0005, 15)}"
)

# SLITracker: record in a service (here a private registry), compute from Prometheus.
with SLITracker(slos=slos_file, registry=CollectorRegistry()) as tracker:
    tracker.record_availability(success=True)
    tracker.record_latency(0.120)
    availability = tracker.calculate_availability_sli(window="1h")
    p95 = tracker.calculate_latency_sli(percentile=95, window="1h")
    shown = "no data" if availability is None else f"{availability:.4%}"
    print(f"availability over 1h: {shown}, p95 latency: "
          + ("no data" if p95 is None else f"{p95:.0f} ms"))  # fmt: skip

# SLOTrackingSystem: status and dashboard data, time series, incidents, the gate.
with SLOTrackingSystem(slos_file) as system:
    for row in system.dashboard_data():
        sli, left = row["sli"], row["budget_remaining"]
        numbers = "no data" if sli is None else f"SLI {sli:.4%}, budget left {left:.1%}"
        print(f"{row['name']}: state {row['state']}, {numbers}, alerts {row['alerts'] or 'none'}")
    first = system.slos[0].name
    points = system.time_series(first, window="1h", step="5m")
    print(f"{first}: {sum(v is not None for _, v in points)} of {len(points)} 5m points have data")
    for incident in system.incidents(since="1d"):
        print(f"incident {incident.id}: {incident.severity}, {', '.join(incident.slos)}")
    print(system.gate().summary())

# SLOReporter: a report over the last day, as plain data and as markdown.
with SLOReporter(slos=slos_file) as reporter:
    report = reporter.generate_report(period="1d")
    for slo in reporter.summary(report)["slos"]:
        print(f"report: {slo['name']} {slo['status']}")
