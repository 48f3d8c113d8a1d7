"""The SQLite file replaced or deleted under the tasks store, at each moment of a request.

An open SQLite connection follows the inode, not the path: a write that lands in a file
no longer at the path is lost, so it must answer 503, never 201. Each test moves the
file at one precise moment (a worker's first open, between the check and the write,
just before COMMIT, while a connection opens), in process, without timing luck.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from slolab.serve import prepare_env
from slolab.services.tasks.app import create_app
from slolab.services.tasks.config import Settings
from slolab.services.tasks.schemas import Task
from slolab.services.tasks.sqlite_store import SqliteStore
from slolab.services.tasks.store import NewTask, StoreUnavailable
from tests.services.tasks.conftest import closed_port_url

NEW = NewTask(title="written after the swap", due_in_days=1, estimated_hours=1)


def _replaced(db: Path) -> None:
    """Another valid tasks database renamed over ``db`` (one task in it)."""
    other = db.with_name("other.sqlite3")
    store = SqliteStore(other)
    store.create(NewTask(title="from the other file", due_in_days=1, estimated_hours=1))
    store.close()
    os.replace(other, db)


def _deleted(db: Path) -> None:
    for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        p.unlink(missing_ok=True)


CHANGES = pytest.mark.parametrize("change", [_replaced, _deleted], ids=["replaced", "deleted"])


def _titles_at(db: Path) -> list[str]:
    """Titles in the file now at ``db`` ([] when there is none)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return [t for (t,) in conn.execute("SELECT title FROM tasks ORDER BY title")]
    except sqlite3.OperationalError:  # a file without the table
        return []
    finally:
        conn.close()


def _swap_on(store: SqliteStore, db: Path, change: Callable[[Path], None], sql: str) -> None:
    """Run ``change(db)`` once, when this thread's connection starts a statement ``sql``."""
    done = False

    def trace(statement: str) -> None:
        nonlocal done
        if not done and statement.lstrip().upper().startswith(sql):
            done = True
            change(db)

    store._conn().set_trace_callback(trace)


@CHANGES
def test_a_worker_opening_the_file_after_a_swap_answers_503(tmp_path, change, monkeypatch) -> None:
    """Workers start and first open the file at any time after the server did: the file
    the server started with (pinned by ``slolab serve`` before any worker exists) is
    the only one any of them may write."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    db = tmp_path / "db" / "tasks.sqlite3"
    given = {"SLOLAB_STATE_DIR": str(tmp_path / "state"), "TASKS_DB_PATH": str(db),
             "PREDICTOR_URL": closed_port_url()}  # fmt: skip
    env = prepare_env("tasks", given)  # what `slolab serve tasks` does before the server starts
    env.pop("PROMETHEUS_MULTIPROC_DIR")
    first = create_app(Settings.from_env(env)).test_client()
    assert first.post("/api/tasks", json={"title": "before"}).status_code == 201
    change(db)
    late = create_app(Settings.from_env(env)).test_client()  # a worker serving its first
    resp = late.post("/api/tasks", json={"title": "after"})
    assert resp.status_code == 503, resp.get_json()
    assert late.get("/readyz").status_code == 503
    assert "after" not in _titles_at(db)
    if change is _deleted:
        assert not db.exists()  # no fresh, empty database made in its place


def _store_with_a_task(tmp_path: Path) -> tuple[Path, SqliteStore, Task]:
    """A store on tasks.sqlite3 in ``tmp_path``, its file pinned by a first write."""
    db = tmp_path / "tasks.sqlite3"
    store = SqliteStore(db)
    return db, store, store.create(NewTask(title="before", due_in_days=1, estimated_hours=1))


@CHANGES
def test_a_swap_between_the_check_and_the_write_is_rolled_back(tmp_path, change) -> None:
    db, store, _ = _store_with_a_task(tmp_path)
    _swap_on(store, db, change, "INSERT")
    with pytest.raises(StoreUnavailable, match="replaced or deleted"):
        store.create(NEW)
    assert NEW.title not in _titles_at(db)
    # Nor in the moved file (this thread's connection still reads it): rolled back, so
    # a client's retry cannot make a duplicate should that file be put back.
    in_old = "SELECT COUNT(*) FROM tasks WHERE title = ?"
    assert store._conn().execute(in_old, (NEW.title,)).fetchone()[0] == 0


@CHANGES
def test_a_swap_just_before_commit_is_503(tmp_path, change) -> None:
    db, store, task = _store_with_a_task(tmp_path)
    _swap_on(store, db, change, "COMMIT")
    with pytest.raises(StoreUnavailable, match="replaced or deleted"):
        store.create(NEW)
    with pytest.raises(StoreUnavailable, match="replaced or deleted"):
        store.update(task.id, {"done": True})


@pytest.mark.parametrize("op", ["update", "delete"])
def test_other_writes_after_a_swap_are_503(tmp_path, op) -> None:
    db, store, task = _store_with_a_task(tmp_path)
    _swap_on(store, db, _replaced, op.upper())
    call = {"update": lambda: store.update(task.id, {"done": True}),
            "delete": lambda: store.delete(task.id)}[op]  # fmt: skip
    with pytest.raises(StoreUnavailable, match="replaced or deleted"):
        call()


@CHANGES
def test_a_read_that_starts_before_a_swap_is_503(tmp_path, change) -> None:
    db, store, task = _store_with_a_task(tmp_path)
    _swap_on(store, db, change, "SELECT")
    with pytest.raises(StoreUnavailable, match="replaced or deleted"):
        store.get(task.id)


@CHANGES
def test_a_connection_opened_during_a_swap_is_503(tmp_path, change, monkeypatch) -> None:
    """A new thread opens its own connection; the file moves while it opens."""
    db, store, _ = _store_with_a_task(tmp_path)
    real_connect = sqlite3.connect
    swapped = threading.Event()

    def connect_then_swap(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        if not swapped.is_set():
            swapped.set()
            change(db)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect_then_swap)
    outcome: list[BaseException | str] = []

    def worker_thread() -> None:
        try:
            outcome.append(store.create(NEW).title)
        except BaseException as exc:  # reported to the test thread
            outcome.append(exc)

    t = threading.Thread(target=worker_thread)
    t.start()
    t.join(timeout=30)
    assert swapped.is_set()
    assert len(outcome) == 1 and isinstance(outcome[0], StoreUnavailable), outcome
    assert NEW.title not in _titles_at(db)


def test_the_same_file_back_at_its_path_serves_again(tmp_path) -> None:
    """Moving the very file away and back (same inode) is no loss: the service recovers."""
    db, store, task = _store_with_a_task(tmp_path)
    away = tmp_path / "away.sqlite3"
    os.replace(db, away)
    with pytest.raises(StoreUnavailable, match="replaced or deleted"):
        store.get(task.id)
    os.replace(away, db)
    assert store.get(task.id) == task
    assert store.create(NEW).title == NEW.title


# -- the pin handed from `slolab serve` to the workers -------------------------


def test_serve_pins_the_file_it_creates_and_forgets_an_earlier_pin(tmp_path) -> None:
    db = tmp_path / "tasks.sqlite3"
    env = prepare_env("tasks", {"SLOLAB_STATE_DIR": str(tmp_path), "TASKS_DB_PATH": str(db),
                                "TASKS_DB_FILE_ID": "1:2"})  # fmt: skip
    st = db.stat()
    assert env["TASKS_DB_FILE_ID"] == f"{st.st_dev}:{st.st_ino}"
    assert Settings.from_env(env).db_file_id == (st.st_dev, st.st_ino)
    assert _titles_at(db) == []  # the tables are there, empty


def test_serve_pins_nothing_for_mongodb(tmp_path) -> None:
    env = prepare_env("tasks", {"SLOLAB_STATE_DIR": str(tmp_path), "TASKS_DB_FILE_ID": "1:2",
                                "MONGO_URL": "mongodb://127.0.0.1:1/"})  # fmt: skip
    assert "TASKS_DB_FILE_ID" not in env
    assert not list(tmp_path.glob("*.sqlite3"))


def test_a_disk_broken_at_start_is_no_pin_and_no_crash(tmp_path) -> None:
    """The service starts and answers 503 until the disk is back (no restart needed)."""
    blocker = tmp_path / "db"
    blocker.write_text("a file where the folder should be")
    env = prepare_env("tasks", {"SLOLAB_STATE_DIR": str(tmp_path),
                                "TASKS_DB_PATH": str(blocker / "tasks.sqlite3")})  # fmt: skip
    assert "TASKS_DB_FILE_ID" not in env


@pytest.mark.parametrize("value", ["12", "a:b", "1:-2", ":"])
def test_a_malformed_file_id_is_named(value) -> None:
    with pytest.raises(ValueError, match="TASKS_DB_FILE_ID"):
        Settings.from_env({"TASKS_DB_FILE_ID": value})
