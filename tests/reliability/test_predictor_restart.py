"""Restart the real predictor (uvicorn): the same model, the same version, the same answers."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.figures import record
from tests.reliability.services import FEEDBACK_AUTH, Service, run_service

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

ROWS = [
    {"title_length": t, "urgent_words": u, "due_in_days": d, "estimated_hours": h}
    for t, u, d, h in [(5, 0, 30.0, 1.0), (40, 3, 0.5, 8.0), (22, 1, 3.0, 2.5),
                       (120, 0, 365.0, 40.0), (12, 2, 1.0, 0.5), (64, 0, 7.0, 16.0)]
]  # fmt: skip


@pytest.fixture
def predictor(tmp_path: Path) -> Iterator[Service]:
    with run_service("predictor", tmp_path, PREDICTOR_RETRAIN_INTERVAL_S="0",
                     PREDICTOR_MODEL_DIR=str(tmp_path / "model")) as svc:  # fmt: skip
        yield svc


def answers(svc: Service) -> tuple[str, list[tuple[str, float]]]:
    with httpx.Client(base_url=svc.url, timeout=10) as c:
        version = c.get("/model").json()["version"]
        preds = [c.post("/predict", json=row).json() for row in ROWS]
    assert {p["model_version"] for p in preds} == {version}
    return version, [(p["label"], p["probability"]) for p in preds]


def test_restarts_serve_the_same_model(predictor: Service) -> None:
    first = answers(predictor)
    assert len({label for label, _ in first[1]}) > 1  # the rows are not all one class

    predictor.restart()  # graceful
    assert answers(predictor) == first

    # A retrained model (new seed, plus feedback) is what comes back after a crash too.
    with httpx.Client(base_url=predictor.url, timeout=30) as c:
        pid = c.post("/predict", json=ROWS[0]).json()["prediction_id"]
        body = {"prediction_id": pid, "true_label": "high"}
        assert c.post("/feedback", json=body, headers=FEEDBACK_AUTH).is_success
        retrained = c.post("/model/retrain", json={"seed": 7}, headers=predictor.auth)
        assert retrained.status_code == 200, retrained.text
    second = answers(predictor)
    assert second[0] == retrained.json()["version"] != first[0]
    os.killpg(predictor.proc.pid, signal.SIGKILL)
    predictor.proc.popen.wait(10)
    predictor.start()
    assert answers(predictor) == second
    record("predictor_restart", restarts=2, versions=[first[0], second[0]], rows=len(ROWS),
           same_answers=True)  # fmt: skip
