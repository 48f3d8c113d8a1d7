"""The priority model: synthetic training data from a fixed seed and a logistic regression.

Nothing is downloaded. ``generate`` draws tasks from plausible distributions and
labels them with a documented rule plus noise; ``train`` fits a scikit-learn
``Pipeline(StandardScaler, LogisticRegression)`` (multinomial, lbfgs) on them.
The same seed and feedback give the same coefficients, hence the same version:
the version is a hash of the fitted parameters, never of the clock.

The labelling rule (an urgency score, higher is more urgent)::

    score = 1.4 * urgent_words                 # "urgent", "asap", "fix" ... in the title
          - 1.6 * log1p(due_in_days)           # due soon matters, a year away barely differs
          + 0.5 * log1p(estimated_hours)       # big pieces of work need an early start
          - 0.004 * title_length               # long titles are mostly notes, not alarms
          + normal(0, 0.3)                     # what the four features cannot know
    label = low if score < LOW_HIGH[0], high if score >= LOW_HIGH[1], else medium

The model sees ``log1p`` of the two durations (``design_matrix``), so a linear
model can learn the rule; held-out accuracy is about 0.9 (the noise caps it).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

__all__ = [
    "DEFAULT_N_TRAIN",
    "DEFAULT_SEED",
    "FEATURES",
    "LABELS",
    "Sample",
    "TrainedModel",
    "design_matrix",
    "drifted",
    "generate",
    "holdout",
    "train",
]

LABELS: tuple[str, ...] = ("low", "medium", "high")
FEATURES: tuple[str, ...] = ("title_length", "urgent_words", "due_in_days", "estimated_hours")
DEFAULT_SEED = 20261123
DEFAULT_N_TRAIN = 4000
HOLDOUT_SHARE = 0.2
LOW_HIGH = (-3.05, -0.95)  # score thresholds: about 35% low, 40% medium, 25% high
NOISE = 0.3

# One labelled example: the four features in FEATURES order and the true label.
Sample = tuple[float, float, float, float, str]


def generate(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` tasks (raw features, FEATURES order) and their labels (indices of LABELS)."""
    title_length = np.clip(np.rint(rng.lognormal(3.4, 0.6, n)), 1, 500)
    urgent_words = np.clip(rng.poisson(0.5, n), 0, 50).astype(float)
    due_in_days = np.clip(np.round(rng.exponential(12.0, n), 1), 0, 3650)
    estimated_hours = np.clip(np.round(rng.lognormal(1.0, 0.9, n), 1), 0, 1000)
    x = np.column_stack([title_length, urgent_words, due_in_days, estimated_hours])
    score = (
        1.4 * urgent_words
        - 1.6 * np.log1p(due_in_days)
        + 0.5 * np.log1p(estimated_hours)
        - 0.004 * title_length
        + rng.normal(0.0, NOISE, n)
    )
    y = np.digitize(score, LOW_HIGH)  # 0 low, 1 medium, 2 high
    return x, y


def design_matrix(x: np.ndarray) -> np.ndarray:
    """What the model sees: durations on a log scale (the rule is linear in those)."""
    out = np.array(x, dtype=float, copy=True, ndmin=2)
    out[:, 2:4] = np.log1p(out[:, 2:4])
    return out


def drifted(label: str) -> str:
    """The label a drifted model answers: always a different class, deterministically."""
    return LABELS[(LABELS.index(label) + 1) % len(LABELS)]


def _version(pipe: Pipeline) -> str:
    # Rounded so that last-bit differences between BLAS builds do not change it.
    scaler: StandardScaler = pipe.named_steps["scale"]
    clf: LogisticRegression = pipe.named_steps["clf"]
    digest = hashlib.sha256()
    for arr in (scaler.mean_, scaler.scale_, clf.coef_, clf.intercept_):
        digest.update(np.round(np.asarray(arr, dtype=float), 6).tobytes())
    return "lr-" + digest.hexdigest()[:12]


@dataclass(frozen=True)
class TrainedModel:
    """A fitted model and what /model reports about it."""

    pipeline: Pipeline
    version: str
    seed: int
    n_train: int
    n_feedback: int
    accuracy: float  # on held-out generated data
    trained_at: float  # unix time
    train_seconds: float
    feedback: tuple[Sample, ...] = field(default=(), repr=False)

    def score(self, x: np.ndarray, y: np.ndarray) -> float:
        """Accuracy on raw features ``x`` (FEATURES order) and label indices ``y``."""
        return round(float(self.pipeline.score(design_matrix(x), y)), 4)

    def predict(self, features: Sequence[float]) -> tuple[str, float]:
        """Return (label, probability of that label) for one task."""
        proba = self._proba_one(features)
        best = int(np.argmax(proba))
        return LABELS[best], float(proba[best])

    def proba(self, label: str, features: Sequence[float]) -> float:
        """The model's probability of ``label`` for one task."""
        return float(self._proba_one(features)[LABELS.index(label)])

    @cached_property
    def _linear(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        scaler: StandardScaler = self.pipeline.named_steps["scale"]
        clf: LogisticRegression = self.pipeline.named_steps["clf"]
        assert list(clf.classes_) == list(range(len(LABELS)))  # column i is LABELS[i]
        return scaler.mean_, scaler.scale_, clf.coef_, clf.intercept_

    def _proba_one(self, features: Sequence[float]) -> np.ndarray:
        """``pipeline.predict_proba`` of one row, computed from the fitted parameters.

        The same arithmetic (standardise, linear scores, softmax) without
        scikit-learn's per-call input validation, which costs ~0.4 ms a row: most
        of a /predict request (docs/benchmarks.md).
        """
        mean, scale, coef, intercept = self._linear
        x = design_matrix(np.asarray(features, dtype=float))[0]
        z = coef @ ((x - mean) / scale) + intercept
        e = np.exp(z - z.max())
        return e / e.sum()


def _split(seed: int, n_train: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_holdout = max(200, int(n_train * HOLDOUT_SHARE))
    x, y = generate(n_train + n_holdout, rng)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def holdout(seed: int, n_train: int = DEFAULT_N_TRAIN) -> tuple[np.ndarray, np.ndarray]:
    """The held-out data ``train(seed, n_train)`` is scored on: generated, so no client
    (feedback included) can write it."""
    _, _, x_test, y_test = _split(seed, n_train)
    return x_test, y_test


def train(
    seed: int = DEFAULT_SEED,
    n_train: int = DEFAULT_N_TRAIN,
    feedback: Sequence[Sample] = (),
) -> TrainedModel:
    """Fit the model on ``n_train`` generated tasks (plus ``feedback``); deterministic."""
    started = time.perf_counter()
    x_train, y_train, x_test, y_test = _split(seed, n_train)
    if feedback:
        fx = np.array([s[:4] for s in feedback], dtype=float)
        fy = np.array([LABELS.index(s[4]) for s in feedback])
        x_train, y_train = np.vstack([x_train, fx]), np.concatenate([y_train, fy])
    pipe = Pipeline(
        [("scale", StandardScaler()), ("clf", LogisticRegression(C=10.0, max_iter=1000))]
    )
    # Every class must exist even if feedback were one-sided: the generated data has all three.
    pipe.fit(design_matrix(x_train), y_train)
    accuracy = float(pipe.score(design_matrix(x_test), y_test))
    return TrainedModel(
        pipeline=pipe,
        version=_version(pipe),
        seed=seed,
        n_train=len(y_train),
        n_feedback=len(feedback),
        accuracy=round(accuracy, 4),
        trained_at=time.time(),
        train_seconds=round(time.perf_counter() - started, 4),
        feedback=tuple(feedback),
    )
