"""schemathesis against every operation of the tasks API: in-process (heavy) and on gunicorn.

The in-process run drives the WSGI app directly (no sockets, so hundreds of cases per
operation take seconds). Positive cases for ``{task_id}`` use a task that exists and
admin cases half the time carry the right token, so the success paths and the bodies
behind them are fuzzed too, not only the 404/401 in front of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings

from services.tasks.app import create_app
from services.tasks.config import Settings
from services.tasks.openapi import openapi_document
from slolab.faults import ALLOWED, FaultController
from slolab.lab.procs import free_port
from tests.reliability.figures import record
from tests.reliability.fuzzing import (
    CurrentWsgiApp,
    Tally,
    check_invariants,
    config,
    is_positive,
    one_in,
    with_token,
)
from tests.reliability.services import TOKEN, Service, run_service

pytestmark = pytest.mark.timeout(240)

IN_PROCESS_EXAMPLES = 300
LIVE_EXAMPLES = 30
MIN_PER_OPERATION = 200  # operations that take any input

tally = Tally()
live_tally = Tally()
current_app = CurrentWsgiApp()
schema = schemathesis.openapi.from_dict(openapi_document(), config=config(IN_PROCESS_EXAMPLES))
schema.app = current_app  # what from_wsgi sets; the app itself is built per test
live_schema = schemathesis.openapi.from_dict(openapi_document(), config=config(LIVE_EXAMPLES))


@pytest.fixture(scope="module", autouse=True)
def figures() -> Iterator[None]:
    yield
    if tally.by_operation:
        record("fuzz_tasks_in_process", operations=tally.summary())
    if live_tally.by_operation:
        record("fuzz_tasks_gunicorn", operations=live_tally.summary())


@pytest.fixture
def fuzz_app(tmp_path: Path, monkeypatch) -> Iterator[Flask]:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    # The predictor is down: creates take the degraded path, which must still be 201.
    cfg = Settings(
        db_path=tmp_path / "fuzz.sqlite3",
        predictor_url=f"http://127.0.0.1:{free_port()}",
        predictor_timeout=0.05,
    )
    faults = FaultController("tasks", ALLOWED["tasks"], tmp_path / "state", TOKEN)
    app = create_app(cfg, faults=faults)
    current_app.app = app
    yield app
    current_app.app = None
    app.extensions["slolab_tasks"].store.close()


def _aim(case: schemathesis.Case, create_task) -> None:
    """Point positive cases at things that exist and give half of them the admin token."""
    if not is_positive(case):
        return
    if "task_id" in (case.path_parameters or {}):
        case.path_parameters["task_id"] = create_task()
    if case.path.startswith("/admin/") and one_in(2):
        with_token(case, TOKEN)


def _check_invariants(case: schemathesis.Case, status: int) -> None:
    check_invariants(case, status, TOKEN, ("/admin/",))


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_in_process(case: schemathesis.Case, fuzz_app: Flask) -> None:
    client = fuzz_app.test_client()

    def create_task() -> str:
        return client.post("/api/tasks", json={"title": "fuzz target"}).get_json()["id"]

    _aim(case, create_task)
    response = case.call_and_validate()
    tally.add(case, response.status_code)
    _check_invariants(case, response.status_code)


def test_in_process_run_was_heavy_enough() -> None:
    """Each operation with inputs got a few hundred requests (runs after the fuzz above)."""
    if not tally.by_operation:
        pytest.skip("the in-process fuzz did not run in this session")
    ops = {op.label: op for op in (r.ok() for r in schema.get_all_operations())}
    assert set(tally.by_operation) == set(ops)
    for label, op in ops.items():
        takes_input = op.body or any(True for _ in op.iter_parameters())
        if takes_input:
            assert tally.by_operation[label] >= MIN_PER_OPERATION, tally.summary()[label]


@pytest.fixture(scope="module")
def gunicorn_tasks(tmp_path_factory) -> Iterator[Service]:
    with run_service("tasks", tmp_path_factory.mktemp("live"), PREDICTOR_TIMEOUT="0.05") as svc:
        yield svc


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@live_schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_on_gunicorn(
    case: schemathesis.Case, gunicorn_tasks: Service, session: requests.Session
) -> None:
    def create_task() -> str:
        r = httpx.post(f"{gunicorn_tasks.url}/api/tasks", json={"title": "fuzz target"})
        return r.json()["id"]

    _aim(case, create_task)
    try:
        response = case.call_and_validate(base_url=gunicorn_tasks.url, session=session, timeout=10)
    finally:
        if case.path.startswith("/admin/"):  # faults set with the token must not leak on
            httpx.delete(f"{gunicorn_tasks.url}/admin/faults", headers=gunicorn_tasks.auth)
    live_tally.add(case, response.status_code)
    _check_invariants(case, response.status_code)
