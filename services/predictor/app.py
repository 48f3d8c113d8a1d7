"""The predictor service: a FastAPI application factory.

uvicorn runs ``create_app`` with ``--factory`` in each worker process, so
everything here happens after any fork: the model is trained (well under a
second), metrics and fault injection are wired. Tracing is set up in the
lifespan, once per worker process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from services.predictor.config import Settings
from services.predictor.guards import BodySizeLimit, KnownMethodsOnly, Unexpected
from services.predictor.metrics import install_metrics, render
from services.predictor.schemas import (
    Error,
    FaultsView,
    Features,
    Feedback,
    FeedbackResult,
    Health,
    ModelInfo,
    Prediction,
    RetrainRequest,
)
from services.predictor.service import ModelRejected, PredictorService
from services.predictor.tracking import ConflictingFeedback
from slolab.faults import ALLOWED, FaultController, FaultUpdate, bearer_ok
from slolab.telemetry import (
    configure_logging,
    fastapi_options,
    instrument_fastapi,
    setup_tracing,
    shutdown_tracing,
)

__all__ = ["create_app"]

log = logging.getLogger(__name__)

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


def _errors(*codes: int, **reasons: str) -> dict[int | str, dict[str, Any]]:
    return {
        code: {"model": Error, "description": reasons.get(f"e{code}", _REASONS[code])}
        for code in codes
    }


def _error(status: int, message: str, field: str | None = None, **headers: str) -> JSONResponse:
    body = Error(error=message, field=field).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers or None)


def _register_errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        field = ".".join(loc) or "body"
        status = 400 if err.get("type") == "json_invalid" else 422
        if status == 400:
            return _error(400, "the body is not valid JSON", "body")
        return _error(422, f"{field}: {err.get('msg', 'invalid')}", field)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        field = "body" if exc.status_code in (413, 415) else None
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette lists only the first matching route's methods; we have one per method.
            headers["Allow"] = ", ".join(sorted(_methods_of(app, request.url.path)))
        # Starlette's reason phrases ("Not Found") in lower case; our own messages as written.
        detail = str(exc.detail)
        message = detail.lower() if detail == HTTPStatus(exc.status_code).phrase else detail
        return _error(exc.status_code, message, field, **headers)

    @app.exception_handler(ClientDisconnect)
    async def body_cut(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # The body ended early: a broken chunked framing, or the client went away.
        # FastAPI answers its own body-reading routes the same way (400).
        return _error(400, "the body could not be read", "body")


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


def _feedback_dependency(token: str | None):  # type: ignore[no-untyped-def]
    async def require_feedback_token(request: Request) -> None:
        # Ground truth comes from the tasks service only: an open /feedback let anyone
        # poison the model and the accuracy SLI.
        if not token:
            raise HTTPException(404, "feedback disabled: SLOLAB_FEEDBACK_TOKEN is not set")
        if not bearer_ok(request.headers.get("Authorization"), token):
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
    return _error(status, body, **headers)


def _model_info(svc: PredictorService) -> ModelInfo:
    m = svc.model
    return ModelInfo(
        version=m.version, trained_at=m.trained_at, accuracy=m.accuracy, n_train=m.n_train,
        n_feedback=m.n_feedback, seed=m.seed, train_seconds=m.train_seconds,
        labels=["low", "medium", "high"],
        features=["title_length", "urgent_words", "due_in_days", "estimated_hours"],
    )  # fmt: skip


def _register_api(app: FastAPI, svc: PredictorService) -> None:
    json_only = Depends(json_body_only)
    faulty = [json_only, Depends(_faults_dependency(svc))]

    @app.post(
        "/predict", response_model=Prediction, dependencies=faulty,
        responses=_errors(400, 413, 415, 422, 500), summary="Predict a task's priority",
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
        responses=_errors(
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
            return _error(409, str(exc), "true_label")
        if outcome is None:
            return _error(404, f"unknown prediction_id {body.prediction_id}", "prediction_id")
        return FeedbackResult(correct=outcome.correct, duplicate=outcome.duplicate)

    @app.get("/model", response_model=ModelInfo, dependencies=faulty, responses=_errors(500))
    async def model() -> ModelInfo:
        return _model_info(svc)

    @app.post(
        "/model/retrain", response_model=ModelInfo, dependencies=[json_only],
        responses=_errors(
            400, 401, 404, 409, 413, 415, 422,
            e404="admin surface disabled (SLOLAB_ADMIN_TOKEN unset)",
            e409="the retrained model failed the accuracy gate; the old one is still served",
        ),
        summary="Retrain the model (admin token)",
    )  # fmt: skip
    async def retrain(request: Request, body: RetrainRequest | None = None) -> Any:
        denied = _require_admin(svc.faults, request.headers.get("Authorization"))
        if denied is not None:
            return denied
        body = body or RetrainRequest()
        rejected = await _retrain(svc, body.seed, body.include_feedback)
        if rejected is not None:
            return _error(409, rejected)
        return _model_info(svc)


def _register_operations(app: FastAPI, svc: PredictorService) -> None:
    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, responses={503: {"model": Health}})
    async def readyz() -> Any:
        model = getattr(svc, "model", None)
        if model is None:
            return JSONResponse(Health(status="unavailable").model_dump(), status_code=503)
        return Health(status="ok", model_version=model.version)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        svc.sync_gauges()
        content, content_type = render(svc.metrics, request.headers.get("Accept"))
        return Response(content, media_type=None, headers={"Content-Type": content_type})

    admin_responses = _errors(
        400, 401, 404, 413, 422, e404="admin surface disabled (SLOLAB_ADMIN_TOKEN unset)"
    )
    # FaultUpdate is shared by both services: publish only the faults the predictor accepts.
    fault_schema = FaultUpdate.model_json_schema()
    for name in set(fault_schema["properties"]) - svc.faults.allowed - {"expires_in_s"}:
        del fault_schema["properties"][name]
    body_doc = {
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": fault_schema}},
        }
    }

    async def admin_faults(request: Request) -> JSONResponse:
        body = await request.body() if request.method == "PUT" else None
        status, payload = svc.faults.handle_admin(
            request.method, request.headers.get("Authorization"), body
        )
        headers = {"WWW-Authenticate": 'Bearer realm="slolab"'} if status == 401 else None
        if status == 200:
            svc.sync_gauges()  # stale_model shows on the very next scrape
        return JSONResponse(payload, status_code=status, headers=headers)

    # One route per method: each operation gets its own id in the OpenAPI document.
    for method, summary, extra in (
        ("GET", "Show the injected faults (admin token)", None),
        ("PUT", "Switch faults on or off (admin token)", body_doc),
        ("DELETE", "Switch every fault off (admin token)", None),
    ):
        app.add_api_route(
            "/admin/faults", admin_faults, methods=[method], response_model=FaultsView,
            responses=admin_responses, summary=summary, openapi_extra=extra,
            operation_id=f"{method.lower()}_admin_faults",
        )  # fmt: skip


def _methods_of(app: FastAPI, path: str) -> set[str]:
    """The methods the routes matching ``path`` accept."""
    methods: set[str] = set()
    for route in app.router.routes:
        regex, accepted = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and accepted and regex.match(path):
            methods |= set(accepted)
    return methods


def _retrain_or_reason(
    svc: PredictorService, seed: int | None, include_feedback: bool
) -> str | None:
    try:
        svc.retrain(seed, include_feedback)
    except ModelRejected as exc:
        return str(exc)
    return None


async def _retrain(
    svc: PredictorService, seed: int | None = None, include_feedback: bool = True
) -> str | None:
    """Retrain off the event loop (CPU work); the rejection's reason, or None when served.

    The rejection is caught inside the worker thread: an exception carried across the
    thread hop forms a cycle (exception, traceback, frames) that keeps the rejected
    candidate alive until a full garbage collection (tests/.../test_retrain_memory.py).
    """
    return await anyio.to_thread.run_sync(_retrain_or_reason, svc, seed, include_feedback)


async def _retrain_periodically(svc: PredictorService, interval: float) -> None:
    """Keep the model fresh (the model-freshness SLO wants it under an hour old)."""
    while True:
        await asyncio.sleep(interval)
        try:
            rejected = await _retrain(svc)
            if rejected is not None:
                log.warning("scheduled retrain rejected: %s", rejected)
                # Feedback that fails the gates must not also stop the model's refresh
                # (the freshness SLO): retrain on the generated data alone.
                rejected = await _retrain(svc, include_feedback=False)
                if rejected is not None:
                    log.warning("scheduled retrain without feedback rejected: %s", rejected)
        except Exception:
            log.exception("scheduled retrain failed; serving the previous model")


def create_app(
    settings: Settings | None = None, *, faults: FaultController | None = None
) -> FastAPI:
    """Build the predictor app from ``settings`` (default: the environment).

    ``faults`` replaces the controller the environment would make (tests).
    """
    settings = settings or Settings.from_env()
    configure_logging("predictor")
    holder: dict[str, PredictorService] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_tracing("predictor")  # once per worker process, after any fork
        task = None
        if settings.retrain_interval_s > 0:
            task = asyncio.create_task(
                _retrain_periodically(holder["svc"], settings.retrain_interval_s)
            )
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            shutdown_tracing()

    app = FastAPI(
        title="slolab predictor",
        version="1.0.0",
        summary="Predicts a task's priority (low, medium, high) and learns from feedback.",
        lifespan=lifespan,
        **fastapi_options(),
    )
    # Inner to outer: unhandled errors and the body limit are answered inside the
    # metrics middleware (their 500s and 413s are counted under the route).
    app.add_middleware(Unexpected)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    metrics = install_metrics(app)
    # Outside the metrics middleware: made-up methods would each be a new label value.
    app.add_middleware(KnownMethodsOnly, allowed=lambda path: _methods_of(app, path))

    svc = PredictorService(
        settings, faults or FaultController.from_env("predictor", ALLOWED["predictor"]), metrics
    )
    holder["svc"] = svc
    app.state.predictor = svc

    _register_errors(app)
    _register_api(app, svc)
    _register_operations(app, svc)
    instrument_fastapi(app)
    log.info("predictor app ready: model %s", svc.model.version)
    return app
