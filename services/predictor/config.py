"""Settings of the predictor service, read from the environment when the app is built."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from slolab.envconfig import env_float, env_int
from slolab.faults import feedback_token
from slolab.services.predictor.model import DEFAULT_N_TRAIN, DEFAULT_SEED

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """Everything the predictor can be configured with (see ``from_env``)."""

    seed: int = DEFAULT_SEED
    n_train: int = DEFAULT_N_TRAIN
    max_tracked: int = 100_000
    max_body_bytes: int = 64 * 1024
    retrain_interval_s: float = 1800.0
    min_accuracy: float = 0.85
    max_accuracy_drop: float = 0.005
    model_dir: Path | None = None
    feedback_token: str | None = None  # None: /feedback refused (404)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build from PREDICTOR_SEED, PREDICTOR_N_TRAIN, PREDICTOR_MAX_TRACKED,
        PREDICTOR_MAX_BODY_BYTES, PREDICTOR_RETRAIN_INTERVAL_S, PREDICTOR_MIN_ACCURACY,
        PREDICTOR_MAX_ACCURACY_DROP, PREDICTOR_MODEL_DIR and SLOLAB_FEEDBACK_TOKEN (else
        derived from SLOLAB_ADMIN_TOKEN); raise ValueError naming a malformed variable."""
        env = os.environ if env is None else env
        model_dir = env.get("PREDICTOR_MODEL_DIR", "").strip()
        return cls(
            seed=env_int(env, "PREDICTOR_SEED", DEFAULT_SEED, 0, 2**32 - 1),
            n_train=env_int(env, "PREDICTOR_N_TRAIN", DEFAULT_N_TRAIN, 500, 1_000_000),
            max_tracked=env_int(env, "PREDICTOR_MAX_TRACKED", 100_000, 1, 10_000_000),
            max_body_bytes=env_int(env, "PREDICTOR_MAX_BODY_BYTES", 64 * 1024, 1024, 16 * 1024**2),
            retrain_interval_s=env_float(env, "PREDICTOR_RETRAIN_INTERVAL_S", 1800.0, 0, 86_400),
            min_accuracy=env_float(env, "PREDICTOR_MIN_ACCURACY", 0.85, 0, 1),
            max_accuracy_drop=env_float(env, "PREDICTOR_MAX_ACCURACY_DROP", 0.005, 0, 1),
            model_dir=Path(model_dir) if model_dir else None,
            feedback_token=feedback_token(env),
        )
