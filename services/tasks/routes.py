"""The /api/tasks routes."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, request, url_for
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from slolab.faults import FaultController, bearer_ok
from slolab.services.tasks.metrics import TasksMetrics
from slolab.services.tasks.predictor_client import (
    FeedbackRefused,
    PredictorClient,
    PredictorDegraded,
    features,
)
from slolab.services.tasks.schemas import (
    MAX_LIST_LIMIT,
    MAX_LIST_OFFSET,
    TaskCreate,
    TaskList,
    TaskPatch,
)
from slolab.services.tasks.store import (
    NewTask,
    StoreUnavailable,
    TaskStore,
    TruthConflict,
    is_valid_id,
)

__all__ = ["ApiError", "Services", "api", "read_body", "services"]

log = logging.getLogger(__name__)
api = Blueprint("tasks_api", __name__, url_prefix="/api")
M = TypeVar("M", bound=BaseModel)
_DIGITS = re.compile(r"[0-9]{1,9}")


class ApiError(Exception):
    """An error answer: {"error": message, "field": field}."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


@dataclass
class Services:
    """What the routes use, built once per app by the factory."""

    store: TaskStore
    predictor: PredictorClient
    faults: FaultController
    metrics: TasksMetrics

    def live_store(self) -> TaskStore:
        """The store, unless the store_outage fault pretends it is down."""
        if self.faults.current().store_outage:
            raise StoreUnavailable("store outage (injected fault)")
        return self.store


def services() -> Services:
    return current_app.extensions["slolab_tasks"]


class _Throttled:
    """Log a warning at most once per interval per key (outages would flood the log)."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}

    def warning(self, key: str, msg: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -self.interval) >= self.interval:
            self._last[key] = now
            log.warning(msg, *args)


throttled = _Throttled()


# -- input -------------------------------------------------------------------


def read_body() -> bytes:
    """The request body: 413 beyond MAX_CONTENT_LENGTH, 400 when its framing is broken."""
    try:
        data = request.get_data(cache=False)  # 413 beyond MAX_CONTENT_LENGTH
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        # A chunked body (no Content-Length) is cut at the limit, not refused: one more
        # byte on the wire means it was too large (not parsed truncated).
        chunked = request.content_length is None and limit and len(data) >= limit
        if chunked and request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    except HTTPException:
        raise
    except Exception as exc:
        # The server's body reader raises its own errors (gunicorn: InvalidChunkSize,
        # ChunkMissingTerminator, ...) on a malformed chunked body: the client's fault.
        raise ApiError(400, f"the body could not be read: {type(exc).__name__}", "body") from None
    return data


def _body(model: type[M]) -> M:
    if not request.is_json:
        raise ApiError(415, "the body must be JSON (Content-Type: application/json)", "body")
    data = read_body()
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        if err["type"] == "json_invalid":
            raise ApiError(400, f"the body is not valid JSON: {err['msg']}", "body") from None
        field = ".".join(str(p) for p in err["loc"]) or "body"
        raise ApiError(422, f"{field}: {err['msg']}", field) from None


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not lo <= int(raw) <= hi:
        raise ApiError(422, f"{name}: must be an integer from {lo} to {hi}", name)
    return int(raw)


def _bool_arg(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise ApiError(422, f"{name}: must be true or false", name)
    return raw == "true"


def _task_id(task_id: str) -> str:
    # Checked before the store sees it: nothing else can name a task.
    if not is_valid_id(task_id):
        raise ApiError(404, "task not found", "task_id")
    return task_id


def _json(model: BaseModel, status: int = 200) -> Response:
    return current_app.response_class(
        model.model_dump_json(), status=status, mimetype="application/json"
    )


# -- predictor ---------------------------------------------------------------


def _estimate(svc: Services, body: TaskCreate) -> tuple[str | None, str | None]:
    """(priority, prediction_id), or (None, None) when the predictor fails in any way."""
    try:
        if svc.faults.current().predictor_unreachable:
            raise PredictorDegraded("fault", "predictor_unreachable fault is on")
        pred = svc.predictor.predict(features(body.title, body.due_in_days, body.estimated_hours))
    except PredictorDegraded as exc:
        svc.metrics.predictor_degraded.labels(reason=exc.reason).inc()
        throttled.warning(f"predict-{exc.reason}", "task created without an estimate: %s", exc)
        return None, None
    return pred.label, pred.prediction_id


def _require_labeler() -> None:
    """Ground truth only from a labeler: the feedback credential (SLOLAB_FEEDBACK_TOKEN,
    else derived from SLOLAB_ADMIN_TOKEN), the one tasks itself sends to the predictor.

    Any client could otherwise drive the accuracy SLI to 0% with wrong labels; a rate
    per client would not hold (the lab's Locust sends all its ground truth from one
    address). Title and done stay open to every client.
    """
    token = current_app.extensions["slolab_tasks_settings"].feedback_token
    if not bearer_ok(request.headers.get("Authorization"), token):
        why = (
            "a labeler's feedback token" if token else "SLOLAB_FEEDBACK_TOKEN (ground truth is off)"
        )
        raise ApiError(401, f"true_priority: ground truth needs {why}", "true_priority")


def _truth_is_final(recorded: str | None) -> ApiError:
    return ApiError(
        409,
        f"true_priority: ground truth is given once and this task's is {recorded}",
        "true_priority",
    )


def _feedback(svc: Services, prediction_id: str, true_label: str) -> None:
    """Forward ground truth; 409 when the predictor holds another label (never a 200)."""
    try:
        if svc.faults.current().predictor_unreachable:
            raise PredictorDegraded("fault", "predictor_unreachable fault is on")
        svc.predictor.feedback(prediction_id, true_label)
    except FeedbackRefused as exc:
        raise ApiError(
            409, f"true_priority: the predictor refused it ({exc})", "true_priority"
        ) from None
    except PredictorDegraded as exc:
        svc.metrics.feedback_degraded.labels(reason=exc.reason).inc()
        throttled.warning(f"feedback-{exc.reason}", "feedback not forwarded: %s", exc)


# -- routes ------------------------------------------------------------------


@api.get("/tasks")
def list_tasks() -> Response:
    limit = _int_arg("limit", 50, 1, MAX_LIST_LIMIT)
    offset = _int_arg("offset", 0, 0, MAX_LIST_OFFSET)
    done = _bool_arg("done")
    items, total = services().live_store().list(limit=limit, offset=offset, done=done)
    return _json(TaskList(items=items, total=total, limit=limit, offset=offset))


@api.post("/tasks")
def create_task() -> Response:
    svc = services()
    body = _body(TaskCreate)
    store = svc.live_store()  # an outage answers 503 before the predictor is asked
    priority, prediction_id = _estimate(svc, body)
    task = store.create(
        NewTask(
            title=body.title,
            due_in_days=body.due_in_days,
            estimated_hours=body.estimated_hours,
            priority=priority,
            prediction_id=prediction_id,
        )
    )
    svc.metrics.created.inc()  # only once the task is committed
    resp = _json(task, 201)
    resp.headers["Location"] = url_for(".get_task", task_id=task.id)
    return resp


@api.get("/tasks/<task_id>")
def get_task(task_id: str) -> Response:
    task = services().live_store().get(_task_id(task_id))
    if task is None:
        raise ApiError(404, "task not found", "task_id")
    return _json(task)


@api.patch("/tasks/<task_id>")
def update_task(task_id: str) -> Response:
    svc = services()
    task_id = _task_id(task_id)
    changes = _body(TaskPatch).changes()
    truth = changes.get("true_priority")
    if truth is not None:
        _require_labeler()
    store = svc.live_store()
    if truth is not None:
        # Ground truth is given once, as the predictor takes it: a different label later
        # is 409 (never a 200 the predictor ignores). The predictor is asked first, so
        # its refusal leaves the store unchanged; the store's write is conditional, so
        # of racing labels one is kept in both and the others are 409.
        before = store.get(task_id)
        if before is None:
            raise ApiError(404, "task not found", "task_id")
        if before.true_priority not in (None, truth):
            raise _truth_is_final(before.true_priority)
        if before.true_priority is None and before.prediction_id:
            _feedback(svc, before.prediction_id, truth)
    try:
        task = store.update(task_id, changes)
    except TruthConflict as exc:
        raise _truth_is_final(exc.recorded) from None
    if task is None:
        raise ApiError(404, "task not found", "task_id")
    return _json(task)


@api.delete("/tasks/<task_id>")
def delete_task(task_id: str) -> Response:
    svc = services()
    if not svc.live_store().delete(_task_id(task_id)):
        raise ApiError(404, "task not found", "task_id")
    svc.metrics.deleted.inc()
    return current_app.response_class(status=204)
