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


# -- the write-ahead log (-wal, -shm) under running workers ---------------------

# A worker process of its own (SQLite locks are per process): pins the file, creates
# tasks on demand and answers each with 201 or 503; killed -9 at the end, as a crash.
_WORKER = """
import sys
from slolab.services.tasks.sqlite_store import SqliteStore
from slolab.services.tasks.store import NewTask, StoreUnavailable
dev, ino = map(int, sys.argv[2].split(":"))
store = SqliteStore(sys.argv[1], file_id=(dev, ino))
for line in sys.stdin:
    n = int(line)
    answers = []
    for i in range(n):
        try:
            store.create(NewTask(title="w", due_in_days=1, estimated_hours=1))
            answers.append("201")
        except StoreUnavailable:
            answers.append("503")
    print(" ".join(answers), flush=True)
"""


def _count(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
    finally:
        conn.close()


def test_a_deleted_log_refuses_writes_and_keeps_what_was_acknowledged(tmp_path) -> None:
    """`rm tasks.sqlite3-wal tasks.sqlite3-shm` under running workers: the commits in the
    unlinked log are saved into the file, later writes are 503 in every worker (a
    respawned one too), and after a crash every acknowledged task is there."""
    import signal
    import subprocess
    import sys

    db = tmp_path / "tasks.sqlite3"
    pin = SqliteStore(db)
    file_id = pin.prepare()
    pin.close()
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(db), f"{file_id[0]}:{file_id[1]}"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert worker.stdin is not None and worker.stdout is not None

    def ask(n: int) -> list[str]:
        worker.stdin.write(f"{n}\n")
        worker.stdin.flush()
        return worker.stdout.readline().split()

    try:
        assert ask(30) == ["201"] * 30
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink()
        later = ask(20)
        respawned = SqliteStore(db, file_id=file_id)  # a worker that opens the file now
        with pytest.raises(StoreUnavailable, match="write-ahead log"):
            respawned.create(NEW)
        with pytest.raises(StoreUnavailable, match="write-ahead log"):
            respawned.ping()  # readiness says so too
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    assert later == ["503"] * 20, later
    acknowledged = 30 + later.count("201")
    assert _count(db) == acknowledged  # after the crash: every 201 is in the file


@pytest.mark.parametrize("garbage", [b"", b"not a database\n" * 64], ids=["empty", "text"])
def test_a_first_open_after_a_swap_touches_neither_file(tmp_path, garbage) -> None:
    """A file renamed over the database, then a worker's first open (a respawn): SQLite
    would replay the running workers' log into the newcomer (or delete the log beside an
    empty one). The open must find the swap before any statement."""
    db, store, _ = _store_with_a_task(tmp_path)
    for i in range(20):
        store.create(NewTask(title=f"in the log {i}", due_in_days=1, estimated_hours=1))
    wal = Path(f"{db}-wal")
    wal_before = (wal.stat().st_ino, wal.read_bytes())
    os.link(db, tmp_path / "orig.sqlite3")
    (tmp_path / "garbage").write_bytes(garbage)
    os.replace(tmp_path / "garbage", db)
    respawned = SqliteStore(db, file_id=store._pinned)
    with pytest.raises(StoreUnavailable, match="replaced or deleted"):
        respawned.create(NEW)
    assert db.read_bytes() == garbage  # nothing replayed into the newcomer
    assert (wal.stat().st_ino, wal.read_bytes()) == wal_before  # the log left alone
    os.replace(tmp_path / "orig.sqlite3", db)  # the operator puts the file back
    assert respawned.create(NEW).title == NEW.title
    assert _count(db) == 22
