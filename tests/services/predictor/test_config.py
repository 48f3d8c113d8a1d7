from __future__ import annotations

from pathlib import Path

import pytest

from slolab.services.predictor.config import Settings
from slolab.services.predictor.model import DEFAULT_SEED


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.seed, s.max_tracked, s.max_body_bytes) == (DEFAULT_SEED, 100_000, 65_536)
    assert (s.retrain_interval_s, s.min_accuracy, s.model_dir) == (1800.0, 0.85, None)


def test_values_from_env(tmp_path: Path) -> None:
    s = Settings.from_env(
        {"PREDICTOR_SEED": "7", "PREDICTOR_MAX_TRACKED": "10", "PREDICTOR_MODEL_DIR": str(tmp_path),
         "PREDICTOR_RETRAIN_INTERVAL_S": "0", "PREDICTOR_N_TRAIN": "1000"}
    )  # fmt: skip
    assert (s.seed, s.max_tracked, s.model_dir, s.retrain_interval_s, s.n_train) == (
        7, 10, tmp_path, 0.0, 1000,
    )  # fmt: skip


@pytest.mark.parametrize(
    "env",
    [
        {"PREDICTOR_SEED": "-1"},
        {"PREDICTOR_SEED": "x"},
        {"PREDICTOR_MAX_TRACKED": "0"},
        {"PREDICTOR_MAX_TRACKED": "1.5"},
        {"PREDICTOR_MAX_BODY_BYTES": "10"},
        {"PREDICTOR_RETRAIN_INTERVAL_S": "soon"},
        {"PREDICTOR_MIN_ACCURACY": "2"},
        {"PREDICTOR_N_TRAIN": "10"},
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(env))):
        Settings.from_env(env)
