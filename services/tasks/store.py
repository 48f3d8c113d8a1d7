"""The store interface of the tasks service and the choice of backend."""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bson import ObjectId

from slolab.services.tasks.schemas import Task

if TYPE_CHECKING:
    from slolab.services.tasks.config import Settings

__all__ = [
    "UPDATABLE",
    "NewTask",
    "StoreUnavailable",
    "TaskStore",
    "TruthConflict",
    "is_valid_id",
    "make_store",
    "new_id",
    "pin_database",
]

log = logging.getLogger(__name__)

# Fields a PATCH may change. Stores only ever write these names, so no column or
# key name can come from a request.
UPDATABLE = ("title", "done", "true_priority")

_ID = re.compile(r"[0-9a-f]{24}")


class StoreUnavailable(Exception):
    """The store cannot answer now (down, timed out, locked); the request gets 503."""


class TruthConflict(Exception):
    """The task already has a different ``true_priority``: ground truth is given once."""

    def __init__(self, recorded: str) -> None:
        super().__init__(f"true_priority is already {recorded}")
        self.recorded = recorded


@dataclass(frozen=True)
class NewTask:
    title: str
    due_in_days: float
    estimated_hours: float
    priority: str | None = None
    prediction_id: str | None = None


def new_id() -> str:
    """Return a new task id: an ObjectId in hex, the same form on every backend."""
    return str(ObjectId())


def is_valid_id(task_id: str) -> bool:
    """Only canonical (lower-case) ObjectId hex strings name a task."""
    return _ID.fullmatch(task_id) is not None


class TaskStore(Protocol):
    """What the API needs from storage. Every method may raise StoreUnavailable."""

    name: str

    def create(self, new: NewTask) -> Task: ...

    def get(self, task_id: str) -> Task | None: ...

    def list(self, *, limit: int, offset: int, done: bool | None = None) -> tuple[list[Task], int]:
        """Return one page, newest first, and the number of tasks matching ``done``."""
        ...

    def update(self, task_id: str, changes: dict[str, Any]) -> Task | None:
        """Apply ``changes`` (keys from UPDATABLE); None when there is no such task.

        A ``true_priority`` is applied only where the task has none or the same one, in
        the same atomic write; else nothing changes and TruthConflict is raised.
        """
        ...

    def delete(self, task_id: str) -> bool: ...

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        ...

    def close(self) -> None: ...


def check_changes(changes: dict[str, Any]) -> None:
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")


def make_store(settings: Settings) -> TaskStore:
    """MongoDB when MONGO_URL is set, else the SQLite file at TASKS_DB_PATH."""
    if settings.mongo_url:
        from slolab.services.tasks.mongo_store import MongoStore

        return MongoStore(settings.mongo_url, settings.mongo_db, settings.store_timeout)
    from slolab.services.tasks.sqlite_store import SqliteStore

    return SqliteStore(settings.db_path, settings.store_timeout, file_id=settings.db_file_id)


def pin_database(env: MutableMapping[str, str]) -> None:
    """Create the SQLite file once, before the server starts its workers, and name it
    in ``env`` (TASKS_DB_FILE_ID, "DEV:INO"), which every worker inherits.

    A worker opens the file on its first request, maybe long after start or after a
    respawn; were the file replaced or deleted by then, it would otherwise write into
    the newcomer (or a fresh empty file) while its siblings answer 503.
    """
    from slolab.services.tasks.config import DB_FILE_ID, Settings, format_file_id

    env.pop(DB_FILE_ID, None)  # never one of an earlier run
    settings = Settings.from_env(env)
    if settings.mongo_url:
        return
    from slolab.services.tasks.sqlite_store import SqliteStore

    store = SqliteStore(settings.db_path, settings.store_timeout)
    try:
        file_id = store.prepare()
    except StoreUnavailable as exc:
        # Start anyway (503 until the disk is back); each worker pins at its first open.
        log.warning("tasks database not pinned at start: %s", exc)
        return
    finally:
        store.close()
    env[DB_FILE_ID] = format_file_id(file_id)
