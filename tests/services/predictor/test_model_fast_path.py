"""The per-request probability path equals scikit-learn's predict_proba."""

from __future__ import annotations

import numpy as np
import pytest

from slolab.services.predictor.model import LABELS, design_matrix, generate, train


@pytest.mark.parametrize("feedback", [(), ((30.0, 3.0, 0.0, 8.0, "high"),) * 50])
def test_fast_path_matches_predict_proba(feedback: tuple) -> None:
    model = train(n_train=1000, feedback=feedback)
    x, _ = generate(500, np.random.default_rng(7))
    x = np.vstack([x, [[1, 0, 0, 0], [500, 50, 3650, 1000]]])  # the edges of the domain
    expected = model.pipeline.predict_proba(design_matrix(x))
    for row, want in zip(x, expected, strict=True):
        label, probability = model.predict(tuple(row))
        assert label == LABELS[int(np.argmax(want))]
        assert probability == pytest.approx(float(want.max()), rel=1e-9, abs=1e-12)
        for i, name in enumerate(LABELS):
            assert model.proba(name, tuple(row)) == pytest.approx(float(want[i]), abs=1e-12)
