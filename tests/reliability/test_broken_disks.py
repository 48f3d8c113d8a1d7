"""Broken disks under running services: the fault state folder unwritable or gone, and
the SQLite file deleted, replaced or corrupt. Each must answer a clear 503 (readiness
included), never a 500 and never a silent 201 into a file nobody will read."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.reliability.figures import record
from tests.reliability.services import REPO, Service, run_pair, run_service, service_env

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only


@pytest.fixture(scope="module")
def services(tmp_path_factory) -> Iterator[dict[str, Service]]:
    tmp = tmp_path_factory.mktemp("disks")
    # Only the fault state in the state folders: metrics and the database elsewhere.
    (tmp / "db").mkdir()
    with run_pair(
        tmp,
        TASKS_DB_PATH=str(tmp / "db" / "tasks.sqlite3"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp / "tasks-metrics"),
    ) as services:
        yield services


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


# -- the SQLite file under a running tasks service --------------------------------


@pytest.fixture
def tasks_alone(tmp_path: Path) -> Iterator[Service]:
    # Four workers, one SO_REUSEPORT socket each: fresh connections are spread over
    # them, so workers that never opened the file before it moved get requests after.
    with run_service("tasks", tmp_path, TASKS_WORKERS="4", TASKS_REUSEPORT="on") as svc:
        yield svc


def _db(svc: Service) -> Path:
    return Path(svc.env["TASKS_DB_PATH"])


def _creates(svc: Service, n: int, tag: str) -> dict[int | str, int]:
    """``n`` creates, each on a fresh connection (spread over the workers): status counts."""
    counts: dict[int | str, int] = {}
    for i in range(n):
        try:
            status: int | str = httpx.post(
                f"{svc.url}/api/tasks", json={"title": f"{tag} {i}"},
                headers={"Connection": "close"}, timeout=10,
            ).status_code  # fmt: skip
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        counts[status] = counts.get(status, 0) + 1
    return counts


def _other_database(path: Path) -> Path:
    """A valid tasks database with one task, written by another store."""
    from slolab.services.tasks.sqlite_store import SqliteStore
    from slolab.services.tasks.store import NewTask

    store = SqliteStore(path)
    store.create(NewTask(title="from the other file", due_in_days=1, estimated_hours=1))
    store.close()
    return path


def _removed(db: Path) -> None:
    for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        p.unlink(missing_ok=True)


def _renamed_over(db: Path) -> None:
    os.replace(_other_database(db.with_name("other.sqlite3")), db)


@pytest.mark.parametrize("change", [_removed, _renamed_over], ids=["deleted", "replaced"])
def test_a_lost_database_file_is_503_never_a_silent_201(tasks_alone, change) -> None:
    svc = tasks_alone
    # One create: the file is in use, and at least three workers have not opened it yet
    # (they did open whatever was at the path by then: 201s into the newcomer).
    assert _creates(svc, 1, "before") == {201: 1}
    change(_db(svc))
    counts = _creates(svc, 40, "after")
    assert counts == {503: 40}, counts  # no 201 into a file nobody reads
    ready = httpx.get(f"{svc.url}/readyz")
    assert ready.status_code == 503, ready.text
    assert "replaced or deleted" in ready.json()["error"], ready.text
    assert httpx.get(f"{svc.url}/api/tasks").status_code == 503
    assert svc.proc is not None and svc.proc.exited() is None  # up, and honest about it
    record("sqlite_lost", change=change.__name__, creates=40, answers_503=counts.get(503, 0))


def _corrupt_an_index(db: Path) -> None:
    """Overwrite the root page of the listing index with garbage (the table stays whole)."""
    import sqlite3

    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    (root,) = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'tasks_created'"
    ).fetchone()
    conn.close()
    with db.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xa5" * page_size)


def test_a_corrupt_database_is_not_ready(tmp_path: Path) -> None:
    from slolab.services.tasks.sqlite_store import SqliteStore
    from slolab.services.tasks.store import NewTask

    db = tmp_path / "db" / "tasks.sqlite3"
    store = SqliteStore(db)
    for i in range(400):
        store.create(NewTask(title=f"task {i}", due_in_days=1, estimated_hours=1))
    store.close()
    _corrupt_an_index(db)
    env = service_env("tasks", tmp_path, TASKS_DB_PATH=str(db))
    svc = Service("tasks", env, tmp_path / "tasks.log", REPO)
    try:
        svc.start(probe="/healthz")  # alive: readiness is the question
        lists = [httpx.get(f"{svc.url}/api/tasks").status_code for _ in range(5)]
        assert lists == [503] * 5, lists  # what requests meet ...
        ready = httpx.get(f"{svc.url}/readyz")
        assert ready.status_code == 503, ready.text  # ... readiness must meet too
        assert "malformed" in ready.json()["error"] or "corrupt" in ready.json()["error"]
    finally:
        svc.stop()
    record("sqlite_corrupt_index", lists_503=5, readyz=503)


def test_a_deleted_log_is_503_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """The issue's probe: 10 creates, `rm tasks.sqlite3-wal tasks.sqlite3-shm`, 20 more,
    then kill -9 of the whole server and a start. Before: all 201, `/readyz` 200, and
    none of the tasks after the restart."""
    import signal

    with run_service("tasks", tmp_path) as svc:
        assert _creates(svc, 10, "before") == {201: 10}
        db = _db(svc)
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink()
        counts = _creates(svc, 20, "after")
        ready = httpx.get(f"{svc.url}/readyz")
        assert svc.proc is not None
        os.killpg(svc.proc.pid, signal.SIGKILL)  # no worker closes its connection
        svc.proc.popen.wait(10)
        svc.start()
        total = httpx.get(f"{svc.url}/api/tasks", params={"limit": 1}).json()["total"]
    assert counts == {503: 20}, counts
    assert ready.status_code == 503 and "write-ahead log" in ready.json()["error"], ready.text
    assert total == 10 + counts.get(201, 0)  # every acknowledged task, none of the 503s
    record("sqlite_log_deleted", creates_after=20, answers_503=counts.get(503, 0), kept=total)
