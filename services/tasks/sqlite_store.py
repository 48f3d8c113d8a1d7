"""Tasks in an embedded SQLite file (WAL), safe for several server workers.

One file, pinned by its identity (device, inode), is the only one the service
ever reads or writes: if the path is deleted or another file is moved over it,
every request (and readiness) answers 503 until a restart, instead of 201s into
an unlinked inode or a stranger's file (an open SQLite connection follows the
inode, not the path). ``slolab serve`` pins the file before the server starts
its workers, so a worker that opens it late (or is respawned) cannot pick up a
newcomer; the path is checked again before COMMIT (a moved file rolls back) and
after each operation (a move during COMMIT answers 503, never 201).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slolab.services.tasks.schemas import Task
from slolab.services.tasks.store import NewTask, StoreUnavailable, check_changes, new_id

__all__ = ["FileId", "SqliteStore"]

# (st_dev, st_ino): which file, whatever its path.
FileId = tuple[int, int]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    priority TEXT,
    prediction_id TEXT,
    true_priority TEXT,
    due_in_days REAL NOT NULL,
    estimated_hours REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tasks_created ON tasks (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS tasks_done_created ON tasks (done, created_at DESC, id DESC);
"""
_COLUMNS = (
    "id, title, done, created_at, updated_at, priority, prediction_id, true_priority,"
    " due_in_days, estimated_hours"
)
_ORDER = "ORDER BY created_at DESC, id DESC"


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _task(row: sqlite3.Row) -> Task:
    return Task(
        id=row["id"],
        title=row["title"],
        done=bool(row["done"]),
        created_at=_ts(row["created_at"]),
        updated_at=_ts(row["updated_at"]),
        priority=row["priority"],
        prediction_id=row["prediction_id"],
        true_priority=row["true_priority"],
        due_in_days=row["due_in_days"],
        estimated_hours=row["estimated_hours"],
    )


class SqliteStore:
    """One connection per thread (and per process: connections never cross a fork).

    ``file_id`` pins the file up front (``slolab serve`` pins it before the server
    starts its workers, :func:`slolab.services.tasks.store.pin_database`); without it the
    file at the path at the first open is pinned.
    """

    name = "sqlite"

    def __init__(
        self,
        path: Path | str,
        timeout: float = 1.0,
        check_every: float = 30.0,
        file_id: FileId | None = None,
    ) -> None:
        self.path = Path(path)
        self._fspath = os.fspath(self.path)  # os.stat on a str: no Path conversion per request
        self.timeout = timeout
        self.check_every = check_every  # seconds between integrity checks by ping()
        self._local = threading.local()
        self._pin_lock = threading.Lock()
        self._pinned: FileId | None = file_id  # (st_dev, st_ino) of the one file written
        self._checked: tuple[float, str | None] = (-check_every, None)  # (when, problem)

    # -- the one file ----------------------------------------------------------

    def prepare(self) -> FileId:
        """Create the file and its tables if need be; pin it and return its identity.

        Raise StoreUnavailable when it cannot be opened, or is no longer the pinned file.
        """
        with self._pin_lock:
            if self._pinned is None:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    conn = sqlite3.connect(self._fspath, timeout=self.timeout)
                    try:
                        conn.executescript(_SCHEMA)
                    finally:
                        conn.close()
                    self._pinned = self._file_id()
                except (sqlite3.Error, OSError) as exc:
                    raise StoreUnavailable(f"sqlite store unavailable: {exc}") from exc
        self._check_identity()
        return self._pinned

    def _file_id(self) -> FileId:
        st = os.stat(self._fspath)
        return st.st_dev, st.st_ino

    def _check_identity(self) -> None:
        """Raise StoreUnavailable unless the path names the pinned file (one stat: 1-5 µs)."""
        try:
            st = os.stat(self._fspath)
            same = (st.st_dev, st.st_ino) == self._pinned
        except OSError:
            same = False
        if not same:
            raise StoreUnavailable(
                f"database file {self.path} was replaced or deleted under the running "
                "service; restart it to open the file now there"
            )

    # -- connections ---------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # mode=rw: never create a file here (prepare() does, once); a deleted
        # database must not come back empty under a running service.
        uri = f"{self.path.absolute().as_uri()}?mode=rw"
        # timeout is SQLite's busy timeout: how long a writer waits for the lock.
        conn = sqlite3.connect(uri, timeout=self.timeout, isolation_level=None, uri=True)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives any process crash; only a power cut can
            # roll back the last commits (SQLite's recommended setting for WAL).
            conn.execute("PRAGMA synchronous=NORMAL")
            # mode=rw cannot make a file, so the path naming the pinned file after
            # the open means the file opened is that one.
            self._check_identity()
        except BaseException:
            conn.close()
            raise
        return conn

    def _conn(self) -> sqlite3.Connection:
        pid = os.getpid()
        if self._pinned is None:
            self.prepare()
        # No check here: _db checks after the work (and _write before COMMIT), which
        # catches a file moved at any earlier moment too; a stat costs ~1.5 µs.
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != pid:
            conn = self._connect()
            self._local.conn, self._local.pid = conn, pid
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with suppress(sqlite3.Error):
                conn.close()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection; the file is checked after the work.

        Checked after, not before: what was read or committed came from the file
        still at the path when the answer leaves, whenever the file was moved.
        """
        try:
            yield self._conn()
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
            # Reconnect next time: the file may have been moved, locked or restored.
            self._drop()
            self._check_identity()  # a moved file is the reason, whatever SQLite said
            raise StoreUnavailable(f"sqlite store unavailable: {exc}") from exc
        self._check_identity()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One explicit transaction: rolled back when the file moved before COMMIT.

        (An autocommit ``INSERT ... RETURNING`` commits when the statement is reset,
        where Python drops any error, such as a full disk.)
        """
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                self._check_identity()  # moved already: roll back, the old file unchanged
                db.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise

    # -- operations ----------------------------------------------------------

    def create(self, new: NewTask) -> Task:
        now = time.time()
        task_id = new_id()
        with self._write() as db:
            (row,) = db.execute(
                f"INSERT INTO tasks ({_COLUMNS}) VALUES (?, ?, 0, ?, ?, ?, ?, NULL, ?, ?)"
                f" RETURNING {_COLUMNS}",
                (
                    task_id,
                    new.title,
                    now,
                    now,
                    new.priority,
                    new.prediction_id,
                    new.due_in_days,
                    new.estimated_hours,
                ),
            ).fetchall()  # to the end: COMMIT refuses a statement still running
        return _task(row)

    def get(self, task_id: str) -> Task | None:
        with self._db() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return _task(row) if row else None

    def list(self, *, limit: int, offset: int, done: bool | None = None) -> tuple[list[Task], int]:
        where, args = ("WHERE done = ?", (int(done),)) if done is not None else ("", ())
        with self._db() as db:
            # One read transaction: the page and the total come from the same snapshot.
            db.execute("BEGIN")
            try:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM tasks {where} {_ORDER} LIMIT ? OFFSET ?",
                    (*args, limit, offset),
                ).fetchall()
                total = db.execute(f"SELECT COUNT(*) FROM tasks {where}", args).fetchone()[0]
            finally:
                db.execute("COMMIT")
        return [_task(r) for r in rows], total

    def update(self, task_id: str, changes: dict[str, Any]) -> Task | None:
        check_changes(changes)
        if not changes:
            return self.get(task_id)
        names = sorted(changes)
        sets = ", ".join(f"{name} = ?" for name in names)  # names from UPDATABLE only
        values = [int(v) if isinstance(v, bool) else v for v in (changes[n] for n in names)]
        with self._write() as db:
            rows = db.execute(
                f"UPDATE tasks SET {sets}, updated_at = ? WHERE id = ? RETURNING {_COLUMNS}",
                (*values, time.time(), task_id),
            ).fetchall()
        return _task(rows[0]) if rows else None

    def delete(self, task_id: str) -> bool:
        with self._write() as db:
            deleted = db.execute("DELETE FROM tasks WHERE id = ?", (task_id,)).rowcount == 1
        return deleted

    def ping(self) -> None:
        """Identity of the file on every call; ``PRAGMA quick_check`` every ``check_every`` s.

        quick_check reads every page (a few ms for thousands of tasks), so its verdict is
        kept between checks; a corrupt index otherwise passes a one-row probe.
        """
        with self._db() as db:
            db.execute("SELECT 1 FROM tasks LIMIT 1").fetchall()
            when, problem = self._checked
            if time.monotonic() - when >= self.check_every:
                rows = [r[0] for r in db.execute("PRAGMA quick_check(5)").fetchall()]
                problem = None if rows == ["ok"] else "; ".join(map(str, rows))
                self._checked = (time.monotonic(), problem)
        if problem:
            raise StoreUnavailable(f"sqlite store unavailable: database corrupt: {problem}")

    def close(self) -> None:
        self._drop()
