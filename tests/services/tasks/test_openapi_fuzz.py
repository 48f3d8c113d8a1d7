"""schemathesis fuzzes every documented operation in-process: no 5xx, responses as documented."""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings

from slolab.faults import ALLOWED, FaultController
from slolab.services.tasks.app import create_app
from slolab.services.tasks.config import Settings
from slolab.services.tasks.openapi import openapi_document
from tests.services.tasks.conftest import closed_port_url

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


@pytest.fixture
def fuzz_app(tmp_path, monkeypatch) -> Flask:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    # The predictor is down: creates take the degraded path, which must still be 201.
    cfg = Settings(db_path=tmp_path / "fuzz.sqlite3", predictor_url=closed_port_url())
    # A token the fuzzer does not know: the admin surface must answer 401 to it.
    faults = FaultController("tasks", ALLOWED["tasks"], tmp_path / "state", "not-for-fuzzers")
    return create_app(cfg, faults=faults)


# The document is static (built from the models), so it can be loaded at collection;
# the app under test is built per test and passed to each call.
schema = schemathesis.openapi.from_dict(
    openapi_document(),
    config=schemathesis.Config.from_dict(
        # A quick check; the heavy run (300 per operation, token and real ids, also on
        # gunicorn) is tests/reliability/test_fuzz_tasks.py.
        {"generation": {"mode": "all", "max-examples": 25}, "seed": 20261123}
    ),
)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case, fuzz_app: Flask) -> None:
    response = case.call_and_validate(app=fuzz_app)
    assert response.status_code < 500, response.text
