"""What the predictor does, apart from HTTP: predict, take feedback, retrain, keep gauges true.

The served model is one immutable ``TrainedModel`` swapped in a single assignment,
so requests never see half a retrain. Training runs in a worker thread (callers
use ``anyio.to_thread``); a lock keeps two retrains from racing.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from slolab.faults import FaultController
from slolab.services.predictor.config import Settings
from slolab.services.predictor.metrics import PredictorMetrics
from slolab.services.predictor.model import LABELS, Sample, TrainedModel, drifted, holdout, train
from slolab.services.predictor.tracking import FeedbackOutcome, Tracked, Tracker

__all__ = ["STALE_MODEL_AGE_S", "ModelRejected", "PredictorService", "Recipe"]

log = logging.getLogger(__name__)

# Under the stale_model fault the freshness gauge reports the model this much older
# than it is: beyond the 1 h of the model-freshness SLO from the first scrape on.
STALE_MODEL_AGE_S = 2 * 3600
RECIPE_FILE = "recipe.json"


class ModelRejected(Exception):
    """A retrained model scored below the accuracy gate; the served model stays."""


@dataclass(frozen=True)
class Recipe:
    """All a training needs, so that a restart rebuilds the very same model."""

    seed: int
    feedback: tuple[Sample, ...] = ()

    @classmethod
    def load(cls, path: Path) -> Recipe:
        data = json.loads(path.read_text())
        feedback = tuple(
            (float(a), float(b), float(c), float(d), str(lab))
            for a, b, c, d, lab in data["feedback"]
        )
        if any(s[4] not in LABELS for s in feedback):
            raise ValueError("unknown label in feedback")
        return cls(seed=int(data["seed"]), feedback=feedback)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(
            json.dumps({"seed": self.seed, "feedback": [list(s) for s in self.feedback]})
        )
        os.replace(tmp, path)  # atomic: a crash leaves the old recipe or the new one


class PredictorService:
    def __init__(self, settings: Settings, faults: FaultController, metrics: PredictorMetrics):
        self.settings = settings
        self.faults = faults
        self.metrics = metrics
        self.tracker = Tracker(settings.max_tracked)
        self._train_lock = threading.Lock()
        self._published_ts: float | None = None
        self.model: TrainedModel = self._initial_model()
        self._publish_model(None)

    # -- model ---------------------------------------------------------------

    @property
    def recipe_path(self) -> Path | None:
        d = self.settings.model_dir
        return d / RECIPE_FILE if d is not None else None

    def _initial_model(self) -> TrainedModel:
        recipe = Recipe(self.settings.seed)
        path = self.recipe_path
        if path is not None and path.exists():
            try:
                recipe = Recipe.load(path)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable model recipe %s: %s", path, exc)
        model = train(recipe.seed, self.settings.n_train, recipe.feedback)
        log.info(
            "model %s trained in %.2fs (seed %d, %d feedback, accuracy %.3f)",
            model.version, model.train_seconds, model.seed, model.n_feedback, model.accuracy,
        )  # fmt: skip
        return model

    def retrain(self, seed: int | None = None, include_feedback: bool = True) -> TrainedModel:
        """Train a new model (blocking: call from a thread) and serve it if it passes the gate."""
        with self._train_lock:
            current = self.model
            recipe = Recipe(
                seed=current.seed if seed is None else seed,
                feedback=tuple(self.tracker.labelled()) if include_feedback else (),
            )
            candidate = train(recipe.seed, self.settings.n_train, recipe.feedback)
            # Both gates use generated held-out data, which no client can write: feedback
            # that drags the model down (poisoned or not) is refused, not served.
            baseline = current.score(*holdout(recipe.seed, self.settings.n_train))
            floor = baseline - self.settings.max_accuracy_drop
            if candidate.accuracy < self.settings.min_accuracy:
                raise ModelRejected(
                    f"retrained model {candidate.version} scored {candidate.accuracy:.3f} on "
                    f"held-out data, below PREDICTOR_MIN_ACCURACY={self.settings.min_accuracy}; "
                    f"still serving {current.version}"
                )
            if candidate.accuracy < floor:
                raise ModelRejected(
                    f"retrained model {candidate.version} scored {candidate.accuracy:.3f} on "
                    f"held-out data, the served {current.version} {baseline:.3f}: more than "
                    f"PREDICTOR_MAX_ACCURACY_DROP={self.settings.max_accuracy_drop} worse; "
                    f"still serving {current.version}"
                )
            self.model = candidate
            if self.recipe_path is not None:
                try:
                    recipe.save(self.recipe_path)
                except OSError as exc:  # serving goes on; only a restart would differ
                    log.warning("could not save model recipe %s: %s", self.recipe_path, exc)
            self._publish_model(current.version)
            log.info(
                "model %s retrained in %.2fs (was %s; seed %d, %d feedback, accuracy %.3f)",
                candidate.version, candidate.train_seconds, current.version, candidate.seed,
                candidate.n_feedback, candidate.accuracy,
            )  # fmt: skip
            return candidate

    def _publish_model(self, previous: str | None) -> None:
        self.metrics.set_model(self.model.version, previous)
        self._published_ts = None
        self.sync_gauges()

    def sync_gauges(self) -> None:
        """Make the freshness gauge tell the truth, or the stale_model lie (cheap, idempotent)."""
        ts = self.model.trained_at
        if self.faults.current().stale_model:
            ts -= STALE_MODEL_AGE_S
        if ts != self._published_ts:
            self.metrics.last_trained.set(ts)
            self._published_ts = ts

    # -- requests --------------------------------------------------------------

    def predict(self, row: tuple[float, float, float, float]) -> tuple[str, str, float, str]:
        """Return (prediction_id, label, probability, model_version) and remember it."""
        model = self.model  # one model for the whole request, even if a retrain lands now
        label, probability = model.predict(row)
        if self.faults.current().model_drift:
            label = drifted(label)
            probability = model.proba(label, row)
        prediction_id = uuid.uuid4().hex
        self.tracker.add(prediction_id, Tracked(features=row, label=label))
        self.metrics.count_prediction(label)
        return prediction_id, label, probability, model.version

    def feedback(self, prediction_id: str, true_label: str) -> FeedbackOutcome | None:
        """Record ground truth once; None for an unknown id (ConflictingFeedback if it differs)."""
        outcome = self.tracker.feedback(prediction_id, true_label)
        if outcome is not None and not outcome.duplicate:
            self.metrics.feedback.inc()
            if outcome.correct:
                self.metrics.feedback_correct.inc()
        return outcome
