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

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from slolab.faults import ALLOWED, FaultController, FaultUpdate
from slolab.services.predictor.config import Settings
from slolab.services.predictor.guards import BodySizeLimit, KnownMethodsOnly, Unexpected
from slolab.services.predictor.metrics import install_metrics, render
from slolab.services.predictor.routes import (
    authorization,
    documented_errors,
    error_response,
    register_api,
    retrain_off_loop,
)
from slolab.services.predictor.schemas import FaultsView, Health
from slolab.services.predictor.service import PredictorService
from slolab.telemetry import (
    configure_logging,
    fastapi_options,
    instrument_fastapi,
    setup_tracing,
    shutdown_tracing,
)

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _register_errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        field = ".".join(loc) or "body"
        status = 400 if err.get("type") == "json_invalid" else 422
        if status == 400:
            return error_response(400, "the body is not valid JSON", "body")
        return error_response(422, f"{field}: {err.get('msg', 'invalid')}", field)

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
        return error_response(exc.status_code, message, field, **headers)

    @app.exception_handler(ClientDisconnect)
    async def body_cut(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # The body ended early: a broken chunked framing, or the client went away.
        # FastAPI answers its own body-reading routes the same way (400).
        return error_response(400, "the body could not be read", "body")


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

    admin_responses = documented_errors(
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
        status, payload = svc.faults.handle_admin(request.method, authorization(request), body)
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


async def _retrain_periodically(svc: PredictorService, interval: float) -> None:
    """Keep the model fresh (the model-freshness SLO wants it under an hour old)."""
    while True:
        await asyncio.sleep(interval)
        try:
            rejected = await retrain_off_loop(svc)
            if rejected is not None:
                log.warning("scheduled retrain rejected: %s", rejected)
                # Feedback that fails the gates must not also stop the model's refresh
                # (the freshness SLO): retrain on the generated data alone.
                rejected = await retrain_off_loop(svc, include_feedback=False)
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
    register_api(app, svc)
    _register_operations(app, svc)
    instrument_fastapi(app)
    log.info("predictor app ready: model %s", svc.model.version)
    return app
