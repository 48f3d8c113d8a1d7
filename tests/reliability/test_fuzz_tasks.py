"""schemathesis against every operation of the tasks API: in-process (heavy) and on gunicorn.

The in-process run drives the WSGI app directly (no sockets, so hundreds of cases per
operation take seconds). Positive cases for ``{task_id}`` use a task that exists and
admin cases half the time carry the right token, so the success paths and the bodies
behind them are fuzzed too, not only the 404/401 in front of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from flask import Flask

from slolab.faults import ALLOWED, FaultController
from slolab.lab.procs import free_port
from slolab.services.tasks.app import create_app
from slolab.services.tasks.config import Settings
from slolab.services.tasks.openapi import openapi_document
from tests.reliability.fuzzing import (
    HYPOTHESIS,
    CurrentWsgiApp,
    Fuzz,
    is_positive,
    one_in,
    with_token,
)
from tests.reliability.services import TOKEN, Service, run_service

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def _aim(case: schemathesis.Case, create_task: Callable[[], str]) -> None:
    """Point positive cases at things that exist and give half of them the admin token."""
    if not is_positive(case):
        return
    if "task_id" in (case.path_parameters or {}):
        case.path_parameters["task_id"] = create_task()
    if case.path.startswith("/admin/") and one_in(2):
        with_token(case, TOKEN)


FUZZ = Fuzz("tasks", "gunicorn", openapi_document(), CurrentWsgiApp(), ("/admin/",), _aim)
finish = FUZZ.module_fixture()


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
    with FUZZ.serving(create_app(cfg, faults=faults)) as app:
        yield app
    app.extensions["slolab_tasks"].store.close()


@FUZZ.schema.parametrize()
@HYPOTHESIS
def test_every_operation_in_process(case: schemathesis.Case, fuzz_app: Flask) -> None:
    client = fuzz_app.test_client()

    def create_task() -> str:
        return client.post("/api/tasks", json={"title": "fuzz target"}).get_json()["id"]

    FUZZ.in_process(case, create_task)


def test_in_process_run_was_heavy_enough() -> None:
    FUZZ.check_heavy_enough()


@pytest.fixture(scope="module")
def gunicorn_tasks(tmp_path_factory) -> Iterator[Service]:
    with run_service("tasks", tmp_path_factory.mktemp("live"), PREDICTOR_TIMEOUT="0.05") as svc:
        yield svc


@FUZZ.live_schema.parametrize()
@HYPOTHESIS
def test_every_operation_on_gunicorn(case: schemathesis.Case, gunicorn_tasks: Service) -> None:
    def create_task() -> str:
        r = httpx.post(f"{gunicorn_tasks.url}/api/tasks", json={"title": "fuzz target"})
        return r.json()["id"]

    FUZZ.live(case, gunicorn_tasks, create_task)
