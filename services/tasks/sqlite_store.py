"""Tasks in an embedded SQLite file (WAL), safe for several server workers.

One file, pinned by its identity (device, inode), is the only one the service
ever reads or writes: if the path is deleted or another file is moved over it,
every request (and readiness) answers 503 until a restart, instead of 201s into
an unlinked inode or a stranger's file (an open SQLite connection follows the
inode, not the path). ``slolab serve`` pins the file before the server starts
its workers, so a worker that opens it late (or is respawned) cannot pick up a
newcomer; the path is checked again before COMMIT (a moved file rolls back) and
after each operation (a move during COMMIT answers 503, never 201).

The write-ahead log (``-wal``) and its index (``-shm``) are part of the database:
committed writes live in the log until a checkpoint copies them into the file. Each
connection records the identity of the two files it opened and checks them with the
database before and after each write; deleted under a running service, a log would
take every later write with it (into an unlinked inode) while a worker opening the
path afresh starts an empty log beside it. Both are checked before SQLite reads
anything too: on its first read SQLite adopts whatever ``-wal`` sits beside the
path, replays it into the file there, and deletes it beside an empty file.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slolab.services.tasks.schemas import Task
from slolab.services.tasks.store import (
    NewTask,
    StoreUnavailable,
    TruthConflict,
    check_changes,
    new_id,
)

__all__ = ["FileId", "SqliteStore"]

log = logging.getLogger(__name__)

# (st_dev, st_ino): which file, whatever its path.
FileId = tuple[int, int]

# SQLite's unix VFS takes its SHARED lock on these bytes of the database file (PENDING_BYTE
# + 2, 510 bytes); in WAL mode every open connection holds it for as long as it is open.
_SHARED_FIRST, _SHARED_SIZE = 0x40000002, 510
_FLOCK = "hhqqi4x"  # struct flock: l_type, l_whence, l_start, l_len, l_pid (Linux, 64-bit)
# How long a first open waits for another process's first open to create the log.
_LOG_APPEARS_S = 0.05


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
        self._logs = (self._fspath + "-wal", self._fspath + "-shm")
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
                        # Recorded in the file: later opens find WAL mode without a switch.
                        conn.execute("PRAGMA journal_mode=WAL")
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

    def _log_ids(self) -> tuple[FileId | None, FileId | None]:
        """Identities of the files at the ``-wal`` and ``-shm`` paths (None: no file)."""
        out: list[FileId | None] = []
        for path in self._logs:
            try:
                st = os.stat(path)
                out.append((st.st_dev, st.st_ino))
            except OSError:
                out.append(None)
        return out[0], out[1]

    def _check_files(self) -> None:
        """The database and the log files of this thread's connection, at their paths."""
        self._check_identity()
        opened = getattr(self._local, "logs", None)
        if opened is not None and self._log_ids() != opened:
            raise StoreUnavailable(
                f"the write-ahead log of {self.path} (-wal, -shm) was replaced or deleted "
                "under the running service; writes are refused until a restart"
            )

    def _opened_elsewhere(self) -> bool:
        """Another process has the database open (holds SQLite's SHARED lock).

        Locks of this process are invisible to F_GETLK; this store has no connection
        open here when it asks (a first open).
        """
        try:
            fd = os.open(self._fspath, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            probe = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, _SHARED_FIRST, _SHARED_SIZE, 0)
            held = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, probe))[0]
        except OSError:
            return False
        finally:
            os.close(fd)
        return held != fcntl.F_UNLCK

    def _check_before_first_read(self) -> None:
        """Before SQLite reads the file: it is ours, and its log is not missing.

        SQLite adopts (and replays into the file at the path) any ``-wal`` beside it, and
        with the log deleted under running workers it would start an empty one while
        their commits sit in the unlinked one.
        """
        self._check_identity()
        if None not in self._log_ids() or not self._opened_elsewhere():
            return
        time.sleep(_LOG_APPEARS_S)  # another worker's first open: it creates the log now
        if None in self._log_ids() and self._opened_elsewhere():
            raise StoreUnavailable(
                f"the write-ahead log of {self.path} (-wal, -shm) is missing while other "
                "processes have the database open: it was deleted under the running "
                "service; writes are refused until a restart"
            )

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

    def _connect(self) -> tuple[sqlite3.Connection, tuple[FileId | None, FileId | None]]:
        """A new connection and the identities of the log files it opened."""
        # connect() opens nothing yet; the first statement reads the file and its log.
        self._check_before_first_read()
        # mode=rw: never create a file here (prepare() does, once); a deleted
        # database must not come back empty under a running service.
        uri = f"{self.path.absolute().as_uri()}?mode=rw"
        # timeout is SQLite's busy timeout: how long a writer waits for the lock.
        conn = sqlite3.connect(uri, timeout=self.timeout, isolation_level=None, uri=True)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # A read opens the log (a switch to WAL alone does not).
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            # NORMAL in WAL mode survives any process crash; only a power cut can
            # roll back the last commits (SQLite's recommended setting for WAL).
            conn.execute("PRAGMA synchronous=NORMAL")
            # mode=rw cannot make a file, so the path naming the pinned file after
            # the open means the file opened is that one.
            self._check_identity()
            logs = self._log_ids()
            if None in logs:
                raise StoreUnavailable(f"the write-ahead log of {self.path} vanished at open")
        except BaseException:
            conn.close()
            raise
        return conn, logs

    def _conn(self) -> sqlite3.Connection:
        pid = os.getpid()
        if self._pinned is None:
            self.prepare()
        # No check here: _db checks after the work (and _write before COMMIT), which
        # catches a file moved at any earlier moment too; a stat costs ~1.5 µs.
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != pid:
            self._local.logs = None
            conn, logs = self._connect()
            self._local.conn, self._local.pid, self._local.logs = conn, pid, logs
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = self._local.logs = None
        if conn is not None:
            with suppress(sqlite3.Error):
                conn.close()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection; the file is checked after the work.

        Checked after, not before: what was read or committed came from the file
        still at the path when the answer leaves, whenever the file was moved.
        """
        conn: sqlite3.Connection | None = None
        try:
            conn = self._conn()
            yield conn
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
            # Reconnect next time: the file may have been moved, locked or restored.
            self._drop()
            self._check_identity()  # a moved file is the reason, whatever SQLite said
            raise StoreUnavailable(f"sqlite store unavailable: {exc}") from exc
        except StoreUnavailable:
            if conn is not None:
                self._save_orphaned_log(conn)
            raise
        try:
            self._check_files()
        except StoreUnavailable:
            self._save_orphaned_log(conn)
            raise

    def _save_orphaned_log(self, conn: sqlite3.Connection) -> None:
        """Copy what a deleted log holds into the database file while it is still ours.

        The commits acknowledged before the log was deleted exist only in the unlinked
        log that the running connections share; a restart would lose them.
        """
        logs = getattr(self._local, "logs", None)
        if logs is None or getattr(self._local, "saved", None) is conn or conn.in_transaction:
            return
        if self._log_ids() == logs:
            return  # the log is fine (the database file itself moved)
        try:
            self._check_identity()  # never checkpoint into a file that is not ours
            busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
        except (StoreUnavailable, sqlite3.Error) as exc:
            log.warning("deleted write-ahead log of %s not saved: %s", self.path, exc)
            return
        self._local.saved = conn  # once per connection
        log.warning(
            "write-ahead log of %s deleted under the service: %s of %s frames copied into "
            "the database file (busy=%s); writes refused until a restart",
            self.path, copied, frames, busy,
        )  # fmt: skip

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One explicit transaction: rolled back when the file moved before COMMIT.

        (An autocommit ``INSERT ... RETURNING`` commits when the statement is reset,
        where Python drops any error, such as a full disk.)
        """
        with self._db() as db:
            self._check_files()  # nothing written into a log or file that is not at its path
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                self._check_files()  # moved already: roll back, the old file unchanged
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
        # Ground truth is given once: a different one leaves the row as it is.
        truth = changes.get("true_priority")
        once, once_args = (" AND (true_priority IS NULL OR true_priority = ?)", (truth,))
        if truth is None:
            once, once_args = "", ()
        with self._write() as db:
            rows = db.execute(
                f"UPDATE tasks SET {sets}, updated_at = ? WHERE id = ?{once} RETURNING {_COLUMNS}",
                (*values, time.time(), task_id, *once_args),
            ).fetchall()
            if not rows and once:
                row = db.execute("SELECT true_priority FROM tasks WHERE id = ?", (task_id,))
                found = row.fetchone()
                if found is not None:
                    raise TruthConflict(found[0])
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
