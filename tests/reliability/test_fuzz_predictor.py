"""schemathesis against every operation of the predictor API: in-process (heavy) and on uvicorn.

Positive ``/feedback`` cases quote a prediction that exists, and admin cases (the fault
surface, ``/model/retrain``) sometimes carry the right token, so the success paths and the
bodies behind them are fuzzed too, not only the 404/401 in front of them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from services.predictor.app import create_app
from services.predictor.config import Settings
from slolab.faults import ALLOWED, FaultController
from tests.reliability.figures import record
from tests.reliability.fuzzing import (
    CurrentAsgiApp,
    Tally,
    check_invariants,
    config,
    is_positive,
    one_in,
    with_token,
)
from tests.reliability.services import FEEDBACK_AUTH, TOKEN, Service, run_service

pytestmark = pytest.mark.timeout(240)

IN_PROCESS_EXAMPLES = 300
LIVE_EXAMPLES = 30
MIN_PER_OPERATION = 200  # operations that take any input
ADMIN = ("/admin/", "/model/retrain")
FEATURES = {"title_length": 30, "urgent_words": 1, "due_in_days": 3.0, "estimated_hours": 2.0}


def build(state: Path) -> FastAPI:
    faults = FaultController("predictor", ALLOWED["predictor"], state, TOKEN)
    feedback = FEEDBACK_AUTH["Authorization"].removeprefix("Bearer ")  # as tasks sends it
    return create_app(Settings(retrain_interval_s=0, feedback_token=feedback), faults=faults)


def _document() -> dict:
    with tempfile.TemporaryDirectory() as state:
        return build(Path(state)).openapi()


tally = Tally()
live_tally = Tally()
current_app = CurrentAsgiApp()
DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=config(IN_PROCESS_EXAMPLES))
schema.app = current_app  # what from_asgi sets; the app itself is built per test
live_schema = schemathesis.openapi.from_dict(DOCUMENT, config=config(LIVE_EXAMPLES))


@pytest.fixture(scope="module", autouse=True)
def figures() -> Iterator[None]:
    yield
    if tally.by_operation:
        record("fuzz_predictor_in_process", operations=tally.summary())
    if live_tally.by_operation:
        record("fuzz_predictor_uvicorn", operations=live_tally.summary())


@pytest.fixture
def fuzz_app(tmp_path: Path, monkeypatch) -> Iterator[FastAPI]:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app = build(tmp_path / "state")
    current_app.app = app
    yield app
    current_app.app = None


def _aim(case: schemathesis.Case, predict) -> None:
    """Point positive cases at predictions that exist and give some admin cases the token."""
    if not is_positive(case):
        return
    if case.path == "/feedback" and isinstance(case.body, dict) and "prediction_id" in case.body:
        case.body["prediction_id"] = predict()
        case.headers = {**(case.headers or {}), **FEEDBACK_AUTH}  # what the tasks service sends
    # Retraining costs ~0.2 s: one case in four gets the token there, half elsewhere.
    if case.path.startswith(ADMIN) and one_in(4 if case.path == "/model/retrain" else 2):
        with_token(case, TOKEN)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_in_process(case: schemathesis.Case, fuzz_app: FastAPI) -> None:
    client = TestClient(fuzz_app)

    def predict() -> str:
        return client.post("/predict", json=FEATURES).json()["prediction_id"]

    _aim(case, predict)
    response = case.call_and_validate()
    tally.add(case, response.status_code)
    check_invariants(case, response.status_code, TOKEN, ADMIN)


def test_in_process_run_was_heavy_enough() -> None:
    """Each operation with inputs got a few hundred requests (runs after the fuzz above)."""
    if not tally.by_operation:
        pytest.skip("the in-process fuzz did not run in this session")
    ops = {op.label: op for op in (r.ok() for r in schema.get_all_operations())}
    assert set(tally.by_operation) == set(ops)
    for label, op in ops.items():
        if op.body or any(True for _ in op.iter_parameters()):
            assert tally.by_operation[label] >= MIN_PER_OPERATION, tally.summary()[label]


@pytest.fixture(scope="module")
def uvicorn_predictor(tmp_path_factory) -> Iterator[Service]:
    state = tmp_path_factory.mktemp("live")
    with run_service("predictor", state, PREDICTOR_RETRAIN_INTERVAL_S="0") as svc:
        yield svc


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@live_schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_on_uvicorn(
    case: schemathesis.Case, uvicorn_predictor: Service, session: requests.Session
) -> None:
    url = uvicorn_predictor.url

    def predict() -> str:
        return httpx.post(f"{url}/predict", json=FEATURES).json()["prediction_id"]

    _aim(case, predict)
    try:
        response = case.call_and_validate(base_url=url, session=session, timeout=10)
    finally:
        if case.path.startswith("/admin/"):  # faults set with the token must not leak on
            httpx.delete(f"{url}/admin/faults", headers=uvicorn_predictor.auth)
    live_tally.add(case, response.status_code)
    check_invariants(case, response.status_code, TOKEN, ADMIN)
