"""Predictions remembered for their feedback: a bounded, thread-safe LRU in memory.

Only the process that made a prediction knows it, so feedback must reach the same
process (the predictor runs one uvicorn worker by default). The oldest
predictions are forgotten beyond ``max_size``; their feedback then gets 404.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from slolab.services.predictor.model import Sample

__all__ = ["ConflictingFeedback", "FeedbackOutcome", "Tracked", "Tracker"]


@dataclass(slots=True)
class Tracked:
    features: tuple[float, float, float, float]
    label: str  # what the client was told (drifted or not)
    true_label: str | None = None


@dataclass(frozen=True, slots=True)
class FeedbackOutcome:
    correct: bool
    duplicate: bool  # the same feedback came before: not counted again


class ConflictingFeedback(Exception):
    """Feedback for a prediction that already has a different true label."""


class Tracker:
    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._items: OrderedDict[str, Tracked] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, prediction_id: str, item: Tracked) -> None:
        with self._lock:
            self._items[prediction_id] = item
            if len(self._items) > self.max_size:
                self._items.popitem(last=False)

    def feedback(self, prediction_id: str, true_label: str) -> FeedbackOutcome | None:
        """Record the true label once; None when the id is unknown (or forgotten).

        Repeating the same feedback is harmless (a client retry); a different
        label for the same prediction raises ConflictingFeedback.
        """
        with self._lock:
            item = self._items.get(prediction_id)
            if item is None:
                return None
            if item.true_label is not None:
                if item.true_label != true_label:
                    raise ConflictingFeedback(
                        f"prediction {prediction_id} already has true_label {item.true_label}"
                    )
                return FeedbackOutcome(item.label == true_label, duplicate=True)
            item.true_label = true_label
            self._items.move_to_end(prediction_id)  # labelled data is worth keeping longer
            return FeedbackOutcome(item.label == true_label, duplicate=False)

    def labelled(self) -> list[Sample]:
        """The ground truth received so far (oldest first): training data for a retrain."""
        with self._lock:
            return [(*t.features, t.true_label) for t in self._items.values() if t.true_label]
