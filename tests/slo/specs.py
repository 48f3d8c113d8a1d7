"""SLO files more than one test module loads."""

from __future__ import annotations

__all__ = ["RESOURCE_SLOS"]

# A CPU and a memory SLO on the tasks server (thresholds on process metrics).
RESOURCE_SLOS = "version: 1\nslos:\n" + "".join(
    f"""\
  - name: tasks-{kind}
    service: tasks
    description: The tasks server stays {limit} 99% of the time.
    owner: tasks-team
    sli: {{{kind}: {{selector: '{metric}{{job="tasks"}}', {threshold}}}}}
    objective: 99
    period: 1d
    review: {{last_review: 2026-11-26}}
"""
    for kind, limit, metric, threshold in (
        ("cpu", "under 0.8 cores", "process_cpu_seconds_total", "max_cores: 0.8"),
        ("memory", "under 512 MiB", "process_resident_memory_bytes", "max_bytes: 536870912"),
    )
)
