"""Rejected retrains must not keep their candidate model alive: a rejection raised
across the worker-thread hop formed a reference cycle (exception, traceback, frames)
that only a full garbage collection broke, ~5 MiB a time with real training data.
Checked with the collector off, so reference counting alone must free everything."""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from slolab.faults import ALLOWED, FaultController
from slolab.services.predictor import service as service_module
from slolab.services.predictor.app import create_app
from slolab.services.predictor.config import Settings

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

TOKEN = "memory-test-token"
REJECTIONS = 12


def test_rejected_retrains_free_their_candidates(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    candidates: list[weakref.ref] = []
    real_train = service_module.train

    def train(*args, **kwargs):  # type: ignore[no-untyped-def]
        model = real_train(*args, **kwargs)
        candidates.append(weakref.ref(model))
        return model

    ctl = FaultController("predictor", ALLOWED["predictor"], tmp_path, TOKEN)
    # A gate no model passes: every retrain is rejected.
    app = create_app(Settings(retrain_interval_s=0, min_accuracy=0.999), faults=ctl)
    monkeypatch.setattr(service_module, "train", train)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app) as client:
        assert client.post("/model/retrain", headers=auth).status_code == 409  # warm-up
        gc.collect()
        candidates.clear()
        gc.disable()  # only reference counting: what a cycle holds stays held
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            for _ in range(REJECTIONS):
                resp = client.post("/model/retrain", headers=auth)
                assert resp.status_code == 409, resp.text
            grown = tracemalloc.get_traced_memory()[0] - base
            alive = sum(ref() is not None for ref in candidates)
        finally:
            tracemalloc.stop()
            gc.enable()
    assert len(candidates) == REJECTIONS
    assert alive == 0, f"{alive} of {REJECTIONS} rejected candidates still alive"
    assert grown < 2 * 1024 * 1024, f"{grown / 2**20:.1f} MiB kept by {REJECTIONS} rejections"
