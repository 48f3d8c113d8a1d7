"""One summary row per SLO, for ``slolab slo list`` (and anyone tabulating SLOs)."""

from __future__ import annotations

from collections.abc import Sequence

from slolab.slo.durations import format_duration
from slolab.slo.model import SLO, number

__all__ = ["rows"]


def rows(slos: Sequence[SLO]) -> list[dict[str, str]]:
    return [
        {
            "name": slo.name,
            "service": slo.service,
            "sli": str(slo.sli.kind),
            "objective": f"{number(slo.objective_percent)}%",
            # several periods (periods: [30d, 7d]): all of them, the alerts' first
            "period": ", ".join(format_duration(p) for p in slo.periods),
            "budget": format_duration(round(slo.period.total_seconds() * slo.error_budget)),
            "owner": slo.owner,
            "next_review": slo.review.next_review.isoformat(),
        }
        for slo in slos
    ]
