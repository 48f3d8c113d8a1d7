"""The predictor's API routes: predict, feedback, the model and its retraining.

The probes, the scrape and the admin surface are registered in ``app.py``, as in
the tasks service, whose API routes live in its ``routes.py`` too.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from slolab.faults import FaultController, bearer_ok
from slolab.services.predictor.schemas import (
    Error,
    Features,
    Feedback,
    FeedbackResult,
    ModelInfo,
    Prediction,
    RetrainRequest,
)
from slolab.services.predictor.service import ModelRejected, PredictorService
from slolab.services.predictor.tracking import ConflictingFeedback

__all__ = ["documented_errors", "error_response", "register_api", "retrain_off_loop"]

_REASONS = {
    400: "the body is not valid JSON",
    401: "missing or wrong bearer token",
    404: "not found",
    409: "conflicts with the current state",
    413: "the body is larger than the limit",
    415: "the body is not JSON (Content-Type must be application/json)",
    422: "a field is invalid (`field` names it)",
    500: "an injected fault (error_rate)",
    503: "no model loaded",
}


def documented_errors(*codes: int, **reasons: str) -> dict[int | str, dict[str, Any]]:
    return {
        code: {"model": Error, "description": reasons.get(f"e{code}", _REASONS[code])}
        for code in codes
    }


def error_response(
    status: int, message: str, field: str | None = None, **headers: str
) -> JSONResponse:
    body = Error(error=message, field=field).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers or None)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def json_body_only(request: Request) -> None:
    """415 for a body that is not declared JSON (as the tasks service answers)."""
    headers = request.headers
    has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    if has_body and not _is_json(headers.get("content-type", "")):
        raise HTTPException(415, "the body must be JSON (Content-Type: application/json)")


def authorization(request: Request) -> str | None:
    """The one ``Authorization`` header, None when absent or repeated.

    Two credentials are ambiguous: Starlette's ``get`` reads the first, tasks' server
    joins them (and refuses); both services refuse (401).
    """
    values = request.headers.getlist("authorization")
    return values[0] if len(values) == 1 else None


def _feedback_dependency(token: str | None):  # type: ignore[no-untyped-def]
    async def require_feedback_token(request: Request) -> None:
        # Ground truth comes from the tasks service only: an open /feedback let anyone
        # poison the model and the accuracy SLI.
        if not token:
            raise HTTPException(404, "feedback disabled: SLOLAB_FEEDBACK_TOKEN is not set")
        if not bearer_ok(authorization(request), token):
            raise HTTPException(
                401, "missing or invalid feedback token",
                headers={"WWW-Authenticate": 'Bearer realm="slolab-feedback"'},
            )  # fmt: skip

    return require_feedback_token


def _faults_dependency(svc: PredictorService):  # type: ignore[no-untyped-def]
    async def inject_faults() -> None:
        # API routes only: probes, scrapes and the admin surface stay healthy.
        svc.sync_gauges()
        delay = svc.faults.delay_seconds()
        if delay:
            await asyncio.sleep(delay)  # never blocks the event loop for other requests
        if svc.faults.should_fail():
            raise HTTPException(500, "injected fault")

    return inject_faults


def _require_admin(faults: FaultController, authorization: str | None) -> JSONResponse | None:
    status, body = (
        (404, "admin surface disabled: SLOLAB_ADMIN_TOKEN is not set")
        if not faults.admin_token
        else (401, "missing or invalid bearer token")
    )
    if faults.admin_token and faults.authorized(authorization):
        return None
    headers = {"WWW-Authenticate": 'Bearer realm="slolab"'} if status == 401 else {}
    return error_response(status, body, **headers)


def _model_info(svc: PredictorService) -> ModelInfo:
    m = svc.model
    return ModelInfo(
        version=m.version, trained_at=m.trained_at, accuracy=m.accuracy, n_train=m.n_train,
        n_feedback=m.n_feedback, seed=m.seed, train_seconds=m.train_seconds,
        labels=["low", "medium", "high"],
        features=["title_length", "urgent_words", "due_in_days", "estimated_hours"],
    )  # fmt: skip


def register_api(app: FastAPI, svc: PredictorService) -> None:
    """The API routes (the tasks service's blueprint under /api): predict, feedback, model.

    Registered on the app itself, not through an APIRouter: FastAPI includes routers
    lazily, and the method guard (``KnownMethodsOnly``) reads ``app.router.routes``.
    """
    json_only = Depends(json_body_only)
    faulty = [json_only, Depends(_faults_dependency(svc))]

    @app.post(
        "/predict", response_model=Prediction, dependencies=faulty,
        responses=documented_errors(400, 413, 415, 422, 500), summary="Predict a task's priority",
    )  # fmt: skip
    async def predict(features: Features) -> Prediction:
        # Inline on the event loop: one-row predict_proba costs ~0.3 ms, less than
        # a hop to the thread pool and back would add under load.
        pid, label, probability, version = svc.predict(features.row())
        return Prediction(
            prediction_id=pid, label=label, probability=probability, model_version=version
        )  # type: ignore[arg-type]

    @app.post(
        "/feedback", response_model=FeedbackResult,
        dependencies=[Depends(_feedback_dependency(svc.settings.feedback_token)), *faulty],
        responses=documented_errors(
            400, 401, 404, 409, 413, 415, 422, 500,
            e401="missing or wrong feedback token (SLOLAB_FEEDBACK_TOKEN)",
            e404="unknown prediction id (or forgotten: only the latest PREDICTOR_MAX_TRACKED "
            "are kept, by the process that made them); or feedback disabled (no token set)",
            e409="this prediction already has a different true label",
        ),
        summary="Report the true label of a prediction (feedback token; the tasks service)",
    )  # fmt: skip
    async def feedback(body: Feedback) -> FeedbackResult | JSONResponse:
        try:
            outcome = svc.feedback(body.prediction_id, body.true_label)
        except ConflictingFeedback as exc:
            return error_response(409, str(exc), "true_label")
        if outcome is None:
            return error_response(
                404, f"unknown prediction_id {body.prediction_id}", "prediction_id"
            )
        return FeedbackResult(correct=outcome.correct, duplicate=outcome.duplicate)

    @app.get(
        "/model", response_model=ModelInfo, dependencies=faulty, responses=documented_errors(500)
    )
    async def model() -> ModelInfo:
        return _model_info(svc)

    @app.post(
        "/model/retrain", response_model=ModelInfo, dependencies=[json_only],
        responses=documented_errors(
            400, 401, 404, 409, 413, 415, 422,
            e404="admin surface disabled (SLOLAB_ADMIN_TOKEN unset)",
            e409="the retrained model failed the accuracy gate; the old one is still served",
        ),
        summary="Retrain the model (admin token)",
    )  # fmt: skip
    async def retrain(request: Request, body: RetrainRequest | None = None) -> Any:
        denied = _require_admin(svc.faults, authorization(request))
        if denied is not None:
            return denied
        body = body or RetrainRequest()
        rejected = await retrain_off_loop(svc, body.seed, body.include_feedback)
        if rejected is not None:
            return error_response(409, rejected)
        return _model_info(svc)


def _retrain_or_reason(
    svc: PredictorService, seed: int | None, include_feedback: bool
) -> str | None:
    try:
        svc.retrain(seed, include_feedback)
    except ModelRejected as exc:
        return str(exc)
    return None


async def retrain_off_loop(
    svc: PredictorService, seed: int | None = None, include_feedback: bool = True
) -> str | None:
    """Retrain off the event loop (CPU work); the rejection's reason, or None when served.

    The rejection is caught inside the worker thread: an exception carried across the
    thread hop forms a cycle (exception, traceback, frames) that keeps the rejected
    candidate alive until a full garbage collection (tests/.../test_retrain_memory.py).
    """
    return await anyio.to_thread.run_sync(_retrain_or_reason, svc, seed, include_feedback)
