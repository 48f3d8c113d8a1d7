"""The tasks service: a Flask application factory.

Nothing happens at import. ``create_app`` reads the environment, builds the store,
the predictor client, metrics and fault injection, and registers the routes.
Tracing exporters are started in each server worker (services/tasks/wsgi.py),
never here: the batch span processor does not survive a fork.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from slolab.faults import ALLOWED, FaultController
from slolab.services.tasks.config import Settings
from slolab.services.tasks.guards import known_methods_only, length_required_on_granian
from slolab.services.tasks.metrics import install_metrics
from slolab.services.tasks.openapi import openapi_document
from slolab.services.tasks.predictor_client import PredictorClient
from slolab.services.tasks.routes import ApiError, Services, api, read_body, throttled
from slolab.services.tasks.schemas import Error, Health
from slolab.services.tasks.store import StoreUnavailable, TaskStore, make_store
from slolab.telemetry import configure_logging, instrument_flask

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _error(status: int, message: str, field: str | None = None) -> Response:
    resp = jsonify(Error(error=message, field=field).model_dump(exclude_none=True))
    resp.status_code = status
    return resp


def _register_errors(app: Flask, svc: Services) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        resp = _error(exc.status, exc.message, exc.field)
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="slolab-feedback"'
        return resp

    @app.errorhandler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable) -> Response:
        svc.metrics.store_unavailable.inc()
        throttled.warning("store", "answering 503: %s", exc)
        resp = _error(503, f"store unavailable, retry shortly ({svc.store.name})")
        resp.headers["Retry-After"] = "1"
        return resp

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        if code == 413:
            message = f"the body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes"
        else:
            message = (exc.name or "error").lower()
        resp = _error(code, message, "body" if code == 413 else None)
        # Keep the exception's headers (Allow on 405), but not its HTML content type.
        for key, value in exc.get_headers():
            if key.lower() not in {"content-type", "content-length"}:
                resp.headers[key] = value
        return resp

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, "internal error")


def _register_faults(app: Flask, faults: FaultController) -> None:
    @app.before_request
    def inject() -> Response | None:
        # API routes only: probes, scrapes and the admin surface stay healthy.
        if not request.path.startswith("/api/"):
            return None
        delay = faults.delay_seconds()
        if delay:
            time.sleep(delay)
        if faults.should_fail():
            return _error(500, "injected fault")
        return None

    @app.route("/admin/faults", methods=["GET", "PUT", "DELETE"])
    def admin_faults() -> Response:
        body = read_body() if request.method == "PUT" else None
        status, payload = faults.handle_admin(
            request.method, request.headers.get("Authorization"), body
        )
        resp = jsonify(payload)
        resp.status_code = status
        if status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="slolab"'
        return resp


def _register_operations(app: Flask, svc: Services) -> None:
    document = openapi_document()

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(Health(status="ok").model_dump(exclude_none=True))

    @app.get("/readyz")
    def readyz() -> Response:
        try:
            svc.live_store().ping()
        except StoreUnavailable as exc:
            body = Health(status="unavailable", store=svc.store.name, error=str(exc))
            resp = jsonify(body.model_dump(exclude_none=True))
            resp.status_code = 503
            return resp
        return jsonify(Health(status="ok", store=svc.store.name).model_dump(exclude_none=True))

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(document)


def create_app(
    config: Settings | None = None,
    *,
    store: TaskStore | None = None,
    faults: FaultController | None = None,
) -> Flask:
    """Build the tasks app from ``config`` (default: the environment).

    ``store`` and ``faults`` replace the ones the environment would choose (tests).
    """
    settings = config or Settings.from_env()
    configure_logging("tasks")
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]

    metrics = install_metrics(app)  # first: its timer must also cover injected latency
    svc = Services(
        store=store or make_store(settings),
        predictor=PredictorClient(
            settings.predictor_url, settings.predictor_timeout, settings.feedback_token
        ),
        faults=faults or FaultController.from_env("tasks", ALLOWED["tasks"]),
        metrics=metrics,
    )
    app.extensions["slolab_tasks"] = svc
    app.extensions["slolab_tasks_settings"] = settings

    _register_errors(app, svc)
    _register_faults(app, svc.faults)
    _register_operations(app, svc)
    app.register_blueprint(api)

    instrument_flask(app)
    app.wsgi_app = known_methods_only(app, app.wsgi_app)  # type: ignore[method-assign]
    app.wsgi_app = length_required_on_granian(app.wsgi_app)  # type: ignore[method-assign]
    log.info("tasks app ready: store=%s predictor=%s", svc.store.name, settings.predictor_url)
    return app
