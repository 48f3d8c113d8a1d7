"""One contract, every backend: SQLite always, MongoDB when MONGO_URL points at one."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from slolab.services.tasks.mongo_store import MongoStore
from slolab.services.tasks.sqlite_store import SqliteStore
from slolab.services.tasks.store import NewTask, StoreUnavailable, TaskStore, is_valid_id, new_id

HOSTILE_TITLES = [
    "'; DROP TABLE tasks; --",
    '{"$gt": ""}',
    "$where",
    "Robert'); DELETE FROM tasks WHERE ('1'='1",
    "ünïcødé ✓ 任务 \u202e",
    "nul \x00 byte",
]


@pytest.fixture(params=["sqlite", "mongodb"])
def store(request, tmp_path: Path) -> Iterator[TaskStore]:
    if request.param == "sqlite":
        s: TaskStore = SqliteStore(tmp_path / "tasks.sqlite3")
        yield s
        s.close()
        return
    url = os.environ.get("MONGO_URL")
    if not url:
        pytest.skip("MONGO_URL is not set: no MongoDB to run the contract against")
    db = f"slolab_test_{uuid.uuid4().hex[:8]}"
    s = MongoStore(url, db, timeout=2.0)
    yield s
    s._coll().database.client.drop_database(db)
    s.close()


def make(store: TaskStore, title: str = "t", **kw) -> object:
    return store.create(NewTask(title=title, due_in_days=kw.get("due", 7.0),
                                estimated_hours=kw.get("hours", 1.0),
                                priority=kw.get("priority"),
                                prediction_id=kw.get("prediction_id")))  # fmt: skip


def test_create_then_get_round_trips(store: TaskStore) -> None:
    task = make(store, "write tests", due=2.5, hours=3.0, priority="high", prediction_id="p1")
    assert is_valid_id(task.id)
    assert (task.title, task.done, task.priority, task.prediction_id) == (
        "write tests", False, "high", "p1",
    )  # fmt: skip
    assert (task.due_in_days, task.estimated_hours, task.true_priority) == (2.5, 3.0, None)
    assert task.created_at == task.updated_at
    assert store.get(task.id) == task


def test_unknown_ids_are_none_or_false(store: TaskStore) -> None:
    missing = new_id()
    assert store.get(missing) is None
    assert store.update(missing, {"done": True}) is None
    assert store.delete(missing) is False


def test_list_is_newest_first_with_total_and_pages(store: TaskStore) -> None:
    ids = [make(store, f"t{i}").id for i in range(7)]
    page, total = store.list(limit=3, offset=0)
    assert total == 7
    assert [t.id for t in page] == ids[::-1][:3]
    page2, _ = store.list(limit=3, offset=3)
    page3, _ = store.list(limit=3, offset=6)
    assert [t.id for t in page + page2 + page3] == ids[::-1]
    empty, total = store.list(limit=3, offset=100)
    assert (empty, total) == ([], 7)


def test_list_filters_on_done(store: TaskStore) -> None:
    a, b, c = (make(store, n) for n in "abc")
    store.update(b.id, {"done": True})
    done, n_done = store.list(limit=10, offset=0, done=True)
    open_, n_open = store.list(limit=10, offset=0, done=False)
    assert [t.id for t in done] == [b.id] and n_done == 1
    assert [t.id for t in open_] == [c.id, a.id] and n_open == 2


def test_update_changes_only_what_is_given(store: TaskStore) -> None:
    task = make(store, "old", priority="low", prediction_id="p")
    time.sleep(0.002)
    new = store.update(task.id, {"title": "new", "true_priority": "medium"})
    assert new is not None
    assert (new.title, new.true_priority, new.done, new.priority) == ("new", "medium", False, "low")
    assert new.updated_at > task.updated_at and new.created_at == task.created_at
    assert store.get(task.id) == new


def test_update_refuses_fields_outside_the_whitelist(store: TaskStore) -> None:
    task = make(store)
    with pytest.raises(ValueError, match="not updatable"):
        store.update(task.id, {"id = 'x', title": "injected"})
    with pytest.raises(ValueError, match="not updatable"):
        store.update(task.id, {"$set": {"title": "x"}})
    assert store.get(task.id) == task


def test_delete_removes_once(store: TaskStore) -> None:
    keep, gone = make(store, "keep"), make(store, "gone")
    assert store.delete(gone.id) is True
    assert store.delete(gone.id) is False
    assert store.get(gone.id) is None
    assert [t.id for t in store.list(limit=10, offset=0)[0]] == [keep.id]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_hostile_titles_are_stored_verbatim(store: TaskStore, title: str) -> None:
    make(store, "bystander")
    task = make(store, title)
    assert store.get(task.id).title == title
    assert store.list(limit=10, offset=0)[1] == 2  # nothing dropped or matched wider


def test_concurrent_creates_from_threads_are_all_stored(store: TaskStore) -> None:
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: make(store, f"c{i}").id, range(80)))
    assert len(set(ids)) == 80
    assert store.list(limit=100, offset=0)[1] == 80


def test_ping_answers(store: TaskStore) -> None:
    store.ping()


# -- SQLite specifics --------------------------------------------------------


def test_sqlite_survives_a_restart(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "t.sqlite3")
    task = make(first, "durable")
    first.close()
    assert SqliteStore(tmp_path / "t.sqlite3").get(task.id) == task


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.sqlite3")
    store.ping()
    assert store._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_outage_raises_unavailable_and_recovers(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the folder should be")
    store = SqliteStore(blocker / "t.sqlite3")
    with pytest.raises(StoreUnavailable, match="sqlite"):
        store.ping()
    with pytest.raises(StoreUnavailable):
        make(store)
    blocker.unlink()  # the disk comes back: no restart needed
    task = make(store, "after")
    assert store.get(task.id) == task


def test_sqlite_locked_database_is_unavailable_within_the_timeout(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.sqlite3", timeout=0.2)
    store.ping()
    import sqlite3

    holder = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="locked"):
            make(store)
        assert time.monotonic() - started < 1.0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    make(store, "after the lock")


# -- MongoDB without a server --------------------------------------------------


def test_mongo_unreachable_is_unavailable_within_about_a_second() -> None:
    from slolab.lab.procs import free_port

    store = MongoStore(f"mongodb://127.0.0.1:{free_port()}/?directConnection=true", timeout=0.5)
    for call in (store.ping, lambda: store.get(new_id()), lambda: make(store)):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="mongodb"):
            call()
        assert time.monotonic() - started < 1.5
    store.close()
