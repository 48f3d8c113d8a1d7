"""schemathesis against every operation of the predictor API: in-process (heavy) and on uvicorn.

Positive ``/feedback`` cases quote a prediction that exists, and admin cases (the fault
surface, ``/model/retrain``) sometimes carry the right token, so the success paths and the
bodies behind them are fuzzed too, not only the 404/401 in front of them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from starlette.testclient import TestClient

from slolab.faults import ALLOWED, FaultController
from slolab.services.predictor.app import create_app
from slolab.services.predictor.config import Settings
from tests.reliability.fuzzing import (
    HYPOTHESIS,
    CurrentAsgiApp,
    Fuzz,
    is_positive,
    one_in,
    with_token,
)
from tests.reliability.services import FEEDBACK_AUTH, TOKEN, Service, run_service

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

ADMIN = ("/admin/", "/model/retrain")
FEATURES = {"title_length": 30, "urgent_words": 1, "due_in_days": 3.0, "estimated_hours": 2.0}


def build(state: Path) -> FastAPI:
    faults = FaultController("predictor", ALLOWED["predictor"], state, TOKEN)
    feedback = FEEDBACK_AUTH["Authorization"].removeprefix("Bearer ")  # as tasks sends it
    return create_app(Settings(retrain_interval_s=0, feedback_token=feedback), faults=faults)


def _document() -> dict:
    with tempfile.TemporaryDirectory() as state:
        return build(Path(state)).openapi()


def _aim(case: schemathesis.Case, predict: Callable[[], str]) -> None:
    """Point positive cases at predictions that exist and give some admin cases the token."""
    if not is_positive(case):
        return
    if case.path == "/feedback" and isinstance(case.body, dict) and "prediction_id" in case.body:
        case.body["prediction_id"] = predict()
        case.headers = {**(case.headers or {}), **FEEDBACK_AUTH}  # what the tasks service sends
    # Retraining costs ~0.2 s: one case in four gets the token there, half elsewhere.
    if case.path.startswith(ADMIN) and one_in(4 if case.path == "/model/retrain" else 2):
        with_token(case, TOKEN)


FUZZ = Fuzz("predictor", "uvicorn", _document(), CurrentAsgiApp(), ADMIN, _aim)
finish = FUZZ.module_fixture()


@pytest.fixture
def fuzz_app(tmp_path: Path, monkeypatch) -> Iterator[FastAPI]:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with FUZZ.serving(build(tmp_path / "state")) as app:
        yield app


@FUZZ.schema.parametrize()
@HYPOTHESIS
def test_every_operation_in_process(case: schemathesis.Case, fuzz_app: FastAPI) -> None:
    client = TestClient(fuzz_app)

    def predict() -> str:
        return client.post("/predict", json=FEATURES).json()["prediction_id"]

    FUZZ.in_process(case, predict)


def test_in_process_run_was_heavy_enough() -> None:
    FUZZ.check_heavy_enough()


@pytest.fixture(scope="module")
def uvicorn_predictor(tmp_path_factory) -> Iterator[Service]:
    state = tmp_path_factory.mktemp("live")
    with run_service("predictor", state, PREDICTOR_RETRAIN_INTERVAL_S="0") as svc:
        yield svc


@FUZZ.live_schema.parametrize()
@HYPOTHESIS
def test_every_operation_on_uvicorn(case: schemathesis.Case, uvicorn_predictor: Service) -> None:
    url = uvicorn_predictor.url

    def predict() -> str:
        return httpx.post(f"{url}/predict", json=FEATURES).json()["prediction_id"]

    FUZZ.live(case, uvicorn_predictor, predict)
