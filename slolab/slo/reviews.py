"""SLO governance: which SLOs are due (or soon due) for their periodic review."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from slolab.slo.model import SLO

__all__ = ["ReviewDue", "due", "render"]


@dataclass(frozen=True)
class ReviewDue:
    slo: SLO
    next_review: date
    as_of: date

    @property
    def days_overdue(self) -> int:
        """Days past the due date (0 on the day, negative while still ahead)."""
        return (self.as_of - self.next_review).days

    @property
    def is_due(self) -> bool:
        return self.days_overdue >= 0


def due(slos: Sequence[SLO], as_of: date, within_days: int = 0) -> list[ReviewDue]:
    """SLOs due for review on ``as_of`` or within ``within_days`` of it, most overdue first."""
    if within_days < 0:
        raise ValueError(f"within_days: {within_days} must not be negative")
    rows = [ReviewDue(s, s.review.next_review, as_of) for s in slos]
    return sorted(
        (r for r in rows if r.days_overdue >= -within_days),
        key=lambda r: (r.next_review, r.slo.name),
    )


def render(rows: Sequence[ReviewDue], as_of: date) -> str:
    if not rows:
        return f"no SLO reviews due as of {as_of.isoformat()}"
    lines = [f"SLO reviews as of {as_of.isoformat()}:"]
    for r in rows:
        if r.days_overdue > 0:
            when = f"overdue by {r.days_overdue} days"
        elif r.days_overdue == 0:
            when = "due today"
        else:
            when = f"due in {-r.days_overdue} days"
        lines.append(
            f"  {r.slo.name} ({r.slo.owner}): {when} (last {r.slo.review.last_review.isoformat()}, "
            f"every {r.slo.review.cadence_str}, next {r.next_review.isoformat()})"
        )
    return "\n".join(lines)
