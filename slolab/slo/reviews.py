"""SLO governance: which SLOs are due (or soon due) for their periodic review.

Reviews live in ``slos.yaml`` beside the SLO (owner, reviewers, cadence, last
and scheduled date), so a review is a commit and its history is ``git log``.
:func:`schedule` and :func:`complete` edit the file in place with ruamel.yaml's
round trip: comments, order and flow style stay as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from slolab.slo.durations import format_duration
from slolab.slo.files import rewrite
from slolab.slo.model import SLO
from slolab.slo.spec import SpecError, parse_spec

__all__ = ["ReviewDue", "complete", "due", "render", "schedule"]


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
        review = r.slo.review
        who = r.slo.owner + (
            f"; reviewers {', '.join(review.reviewers)}" if review.reviewers else ""
        )
        scheduled = ", scheduled" if review.scheduled else ""
        lines.append(
            f"  {r.slo.name} ({who}): {when} (last {review.last_review.isoformat()}, "
            f"every {format_duration(review.cadence)}, next {r.next_review.isoformat()}{scheduled})"
        )
    return "\n".join(lines)


def _edit(path: Path, name: str, change: Any) -> str:
    """Apply ``change(review_mapping)`` to SLO ``name`` in ``path``; validate; write."""

    def edit(data: Any) -> None:
        entry = next((s for s in data.get("slos") or [] if s.get("name") == name), None)
        if entry is None:
            known = ", ".join(str(s.get("name")) for s in data.get("slos") or [])
            raise SpecError(f"{path}: no SLO named {name!r} (SLOs: {known})")
        review = entry.get("review")
        if not isinstance(review, CommentedMap):
            raise SpecError(f"{path}: slo {name!r}: review: expected a mapping")
        change(review)

    return rewrite(path, edit, lambda text: parse_spec(text, source=str(path)))


def _flow(items: Sequence[str]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def schedule(path: Path, name: str, when: date, reviewers: Sequence[str] | None = None) -> str:
    """Set SLO ``name``'s next review to ``when`` (and its reviewers, if given)."""
    if reviewers is not None and not all(r.strip() for r in reviewers):
        raise SpecError(f"reviewers: empty name in {list(reviewers)!r}")

    def change(review: CommentedMap) -> None:
        review["scheduled"] = when
        if reviewers is not None:
            review["reviewers"] = _flow([r.strip() for r in reviewers])

    return _edit(path, name, change)


def complete(path: Path, name: str, when: date) -> str:
    """Record that SLO ``name`` was reviewed on ``when``: the next follows the cadence."""

    def change(review: CommentedMap) -> None:
        review["last_review"] = when
        review.pop("scheduled", None)

    return _edit(path, name, change)
