"""schemathesis fuzzes every documented operation in-process: no 5xx, responses as documented."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from slolab.faults import ALLOWED, FaultController
from slolab.services.predictor.app import create_app
from slolab.services.predictor.config import Settings

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def build(state: Path) -> FastAPI:
    # A token the fuzzer does not know: the admin surface must answer 401 to it.
    faults = FaultController("predictor", ALLOWED["predictor"], state, "not-for-fuzzers")
    return create_app(Settings(retrain_interval_s=0), faults=faults)


def _document() -> dict:
    with tempfile.TemporaryDirectory() as state:
        return build(Path(state)).openapi()


# The document only depends on the code, so it is made once at collection; the app
# under test is built per test and passed to each call.
schema = schemathesis.openapi.from_dict(
    _document(),
    config=schemathesis.Config.from_dict(
        # A quick check; the heavy run (300 per operation, token and real ids, also on
        # uvicorn) is tests/reliability/test_fuzz_predictor.py.
        {"generation": {"mode": "all", "max-examples": 25}, "seed": 20261123}
    ),
)


@pytest.fixture
def fuzz_app(tmp_path: Path, monkeypatch) -> FastAPI:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    return build(tmp_path / "state")


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case, fuzz_app: FastAPI) -> None:
    response = case.call_and_validate(app=fuzz_app)
    assert response.status_code < 500, response.text
