"""Broken disks under running services: the fault state folder unwritable or gone, and
the SQLite file deleted, replaced or corrupt. Each must answer a clear 503 (readiness
included), never a 500 and never a silent 201 into a file nobody will read."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.reliability.figures import record
from tests.reliability.services import Service, run_service

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def services(tmp_path_factory) -> Iterator[dict[str, Service]]:
    tmp = tmp_path_factory.mktemp("disks")
    # Only the fault state in the state folders: metrics and the database elsewhere.
    (tmp / "db").mkdir()
    with ExitStack() as stack:
        predictor = stack.enter_context(
            run_service("predictor", tmp, PREDICTOR_RETRAIN_INTERVAL_S="0")
        )
        tasks = stack.enter_context(
            run_service(
                "tasks", tmp, PREDICTOR_URL=predictor.url,
                TASKS_DB_PATH=str(tmp / "db" / "tasks.sqlite3"),
                PROMETHEUS_MULTIPROC_DIR=str(tmp / "tasks-metrics"),
            )
        )  # fmt: skip
        yield {"tasks": tasks, "predictor": predictor}


@contextmanager
def folder_replaced_by_a_file(folder: Path) -> Iterator[None]:
    """The state folder gone, a plain file in its place (root ignores permission bits)."""
    keep = folder.with_name(folder.name + ".kept")
    folder.rename(keep)
    folder.write_text("not a folder\n")
    try:
        yield
    finally:
        folder.unlink()
        keep.rename(folder)


@contextmanager
def folder_read_only(folder: Path) -> Iterator[None]:
    mode = folder.stat().st_mode
    folder.chmod(0o500)
    try:
        yield
    finally:
        folder.chmod(mode)


BREAKAGES = [folder_replaced_by_a_file]
if os.geteuid() != 0:  # permission bits bind everyone but root
    BREAKAGES.append(folder_read_only)


@pytest.mark.parametrize("service", ["tasks", "predictor"])
@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda b: b.__name__)
def test_unwritable_fault_state_is_503_with_a_reason(services, service, breakage) -> None:
    svc = services[service]
    state = Path(svc.env["SLOLAB_STATE_DIR"])
    fault = {"tasks": {"latency_ms": 1}, "predictor": {"latency_ms": 1}}[service]
    with breakage(state):
        for method, body in (("PUT", fault), ("DELETE", None)):
            resp = httpx.request(method, f"{svc.url}/admin/faults", json=body, headers=svc.auth)
            assert resp.status_code == 503, (method, resp.status_code, resp.text)
            assert "fault state" in resp.json()["error"], resp.text
        # Everything else goes on: no fault is in force, the API answers.
        assert httpx.get(f"{svc.url}/admin/faults", headers=svc.auth).status_code == 200
        assert httpx.get(f"{svc.url}/healthz").status_code == 200
    resp = httpx.put(f"{svc.url}/admin/faults", json=fault, headers=svc.auth)
    assert resp.status_code == 200, resp.text
    assert httpx.delete(f"{svc.url}/admin/faults", headers=svc.auth).status_code == 200
    record("unwritable_fault_state", service=service, breakage=breakage.__name__, answers=503)
