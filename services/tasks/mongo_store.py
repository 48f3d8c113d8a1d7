"""Tasks in MongoDB through pymongo, with short timeouts so an outage answers fast."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING, MongoClient, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from slolab.services.tasks.schemas import Task
from slolab.services.tasks.store import NewTask, StoreUnavailable, TruthConflict, check_changes

__all__ = ["MongoStore"]

_SORT = [("created_at", DESCENDING), ("_id", DESCENDING)]


def _task(doc: dict[str, Any]) -> Task:
    return Task(
        id=str(doc["_id"]),
        title=doc["title"],
        done=bool(doc["done"]),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        priority=doc.get("priority"),
        prediction_id=doc.get("prediction_id"),
        true_priority=doc.get("true_priority"),
        due_in_days=doc["due_in_days"],
        estimated_hours=doc["estimated_hours"],
    )


def _now() -> datetime:
    # BSON dates keep milliseconds: round here so the answer equals what is stored.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class MongoStore:
    """One MongoClient per process, made on first use (pymongo is not fork-safe).

    Every filter is built here from a validated ObjectId; no request data is ever
    passed as a query or update document, so no operator can be smuggled in.
    """

    name = "mongodb"

    def __init__(self, url: str, db_name: str = "slolab", timeout: float = 1.0) -> None:
        self.url = url
        self.db_name = db_name
        self.timeout_ms = max(1, int(timeout * 1000))
        self._lock = threading.Lock()
        self._client: MongoClient | None = None
        self._pid: int | None = None
        self._indexed = False

    def _coll(self) -> Collection:
        pid = os.getpid()
        with self._lock:
            if self._client is None or self._pid != pid:
                self._client = MongoClient(
                    self.url,
                    serverSelectionTimeoutMS=self.timeout_ms,
                    connectTimeoutMS=self.timeout_ms,
                    socketTimeoutMS=self.timeout_ms,
                    appname="slolab-tasks",
                    tz_aware=True,
                    connect=False,
                )
                self._pid, self._indexed = pid, False
            coll = self._client[self.db_name]["tasks"]
        if not self._indexed:
            # Outside the lock: during an outage each request fails on its own
            # timeout instead of queueing behind another's. create_index is idempotent.
            # Lists sort newest first, optionally filtered by done.
            coll.create_index(_SORT, name="created_desc")
            coll.create_index([("done", 1), *_SORT], name="done_created_desc")
            self._indexed = True
        return coll

    def _call(self, fn: Any) -> Any:
        try:
            return fn(self._coll())
        except PyMongoError as exc:
            raise StoreUnavailable(f"mongodb store unavailable: {exc}") from exc

    def create(self, new: NewTask) -> Task:
        now = _now()
        doc = {
            "_id": ObjectId(),
            "title": new.title,
            "done": False,
            "created_at": now,
            "updated_at": now,
            "priority": new.priority,
            "prediction_id": new.prediction_id,
            "true_priority": None,
            "due_in_days": float(new.due_in_days),
            "estimated_hours": float(new.estimated_hours),
        }
        self._call(lambda c: c.insert_one(doc))
        return _task(doc)

    def get(self, task_id: str) -> Task | None:
        doc = self._call(lambda c: c.find_one({"_id": ObjectId(task_id)}))
        return _task(doc) if doc else None

    def list(self, *, limit: int, offset: int, done: bool | None = None) -> tuple[list[Task], int]:
        query: dict[str, Any] = {} if done is None else {"done": bool(done)}

        def page(c: Collection) -> tuple[list[dict[str, Any]], int]:
            docs = list(c.find(query).sort(_SORT).skip(offset).limit(limit))
            return docs, c.count_documents(query)

        docs, total = self._call(page)
        return [_task(d) for d in docs], total

    def update(self, task_id: str, changes: dict[str, Any]) -> Task | None:
        check_changes(changes)
        fields = {name: changes[name] for name in changes}  # names from UPDATABLE only
        fields["updated_at"] = _now()
        match: dict[str, Any] = {"_id": ObjectId(task_id)}
        truth = changes.get("true_priority")
        if truth is not None:  # ground truth is given once: a different one changes nothing
            match["true_priority"] = {"$in": [None, truth]}
        doc = self._call(
            lambda c: c.find_one_and_update(
                match, {"$set": fields}, return_document=ReturnDocument.AFTER
            )
        )
        if doc is None and truth is not None:
            current = self._call(
                lambda c: c.find_one({"_id": ObjectId(task_id)}, {"true_priority": 1})
            )
            if current is not None:
                raise TruthConflict(current.get("true_priority"))
        return _task(doc) if doc else None

    def delete(self, task_id: str) -> bool:
        result = self._call(lambda c: c.delete_one({"_id": ObjectId(task_id)}))
        return result.deleted_count == 1

    def ping(self) -> None:
        self._call(lambda c: c.database.command("ping"))

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client, self._indexed = None, False
