"""What synthetic users send: task titles, features and their ground truth.

The ground truth (``true_priority``) is a fixed rule of the features, so the
accuracy SLI measures how well the model learnt it and ``model_drift`` shows as
a drop. Keep it in step with the rule the predictor's training data follows.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

__all__ = ["SYNTHETIC_HEADERS", "TaskDraft", "draft_task", "features", "true_priority"]

# Tags every request as synthetic (OpenTelemetry baggage, as the OTel demo does),
# so traces and logs can tell load-test traffic from real users.
SYNTHETIC_HEADERS = {"baggage": "synthetic_request=true", "User-Agent": "slolab-loadgen"}

# The words the tasks service counts as urgent (services/tasks/predictor_client.py).
URGENT_WORDS = (
    "urgent", "asap", "critical", "blocker", "today", "now", "fix", "immediately", "emergency",
)  # fmt: skip
_LOW_HIGH = (-3.05, -0.95)  # the predictor's score thresholds (LOW_HIGH)
_VERBS = ("write", "review", "plan", "call", "update", "prepare", "send", "clean up", "test")
_THINGS = ("report", "slides", "invoice", "release notes", "budget", "roadmap", "backup", "demo")
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class TaskDraft:
    title: str
    due_in_days: float
    estimated_hours: float


def draft_task(rng: random.Random) -> TaskDraft:
    """A plausible new task; about one in four is urgent."""
    title = f"{rng.choice(_VERBS)} {rng.choice(_THINGS)}"
    if rng.random() < 0.25:
        title = f"{rng.choice(URGENT_WORDS)}: {title}"
    return TaskDraft(
        title=title.capitalize(),
        due_in_days=round(rng.choice((0.5, 1, 2, 3, 7, 14, 30)) * rng.uniform(0.8, 1.2), 1),
        estimated_hours=round(rng.uniform(0.5, 16), 1),
    )


def features(draft: TaskDraft) -> dict[str, float | int]:
    """The predictor's input for a task (the same features the tasks service sends)."""
    words = _WORD.findall(draft.title.casefold())
    return {
        "title_length": len(draft.title),
        "urgent_words": sum(w in URGENT_WORDS for w in words),
        "due_in_days": float(draft.due_in_days),
        "estimated_hours": float(draft.estimated_hours),
    }


def true_priority(feat: dict[str, float | int]) -> str:
    """The real priority: the predictor's labelling rule, without its noise.

    Mirrors the rule documented in services/predictor/model.py (loadgen runs in
    its own container and cannot import the service); tests/stack checks that
    the trained model agrees with it on well over 85% of generated tasks, so
    normal load meets the accuracy SLO and only ``model_drift`` breaks it.
    """
    score = (
        1.4 * float(feat["urgent_words"])
        - 1.6 * math.log1p(float(feat["due_in_days"]))
        + 0.5 * math.log1p(float(feat["estimated_hours"]))
        - 0.004 * float(feat["title_length"])
    )
    if score < _LOW_HIGH[0]:
        return "low"
    return "medium" if score < _LOW_HIGH[1] else "high"
