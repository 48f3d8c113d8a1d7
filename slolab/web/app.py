"""The browser dashboard: one page, two JSON endpoints, a vendored chart library.

``GET /`` is the page; it polls ``/api/state`` (table, alerts, faults, slow
requests) and ``/api/charts`` (burn-down and SLI per SLO) every few seconds.
``GET /traces`` is the trace view (:mod:`slolab.web.traces`).
Nothing is fetched from the internet at run time: uPlot is served from
``static/`` (version in its file name, licence beside it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from slolab.slo.model import SLO
from slolab.slo.query import Prometheus, PrometheusError
from slolab.tracestore import TraceReader
from slolab.web import data, traces
from slolab.web.gameday import add_gameday_routes

__all__ = ["create_app"]

STATIC = Path(__file__).parent / "static"


def create_app(
    slos: Sequence[SLO],
    prometheus_url: str | None = None,
    settings: data.DashboardSettings | None = None,
    *,
    timeout: float = 10.0,
    traces_db: Path | None = None,
    gameday_state: Path | None = None,
) -> FastAPI:
    """The dashboard app for ``slos`` against the Prometheus at ``prometheus_url``.

    ``traces_db``: the lab's trace store; the trace view (``/traces``) reads it.
    """
    settings = settings or data.DashboardSettings()
    if traces_db is not None and not settings.trace_view:
        settings = replace(settings, trace_view=True)
    by_name = {s.name: s for s in slos}
    prom = Prometheus(prometheus_url, timeout=timeout)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        prom.close()

    app = FastAPI(title="slolab dashboard", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def unavailable(exc: PrometheusError) -> JSONResponse:
        # The page keeps polling and shows this line until Prometheus answers again.
        return JSONResponse({"error": str(exc)}, status_code=502)

    traces.register(app, TraceReader(traces_db) if traces_db else None, settings.jaeger_url)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "slos": len(slos), "prometheus": prom.url}

    @app.get("/api/state", response_model=None)
    def api_state() -> dict[str, Any] | JSONResponse:
        try:
            body = data.state(prom, slos, settings)
        except PrometheusError as exc:
            return unavailable(exc)
        body["jaeger_url"] = settings.jaeger_url
        body["trace_view"] = settings.trace_view
        return body

    @app.get("/api/charts", response_model=None)
    def api_charts(
        slo: list[str] | None = Query(default=None),  # noqa: B008 - FastAPI's idiom
    ) -> dict[str, Any] | JSONResponse:
        names = slo or list(by_name)
        unknown = [n for n in names if n not in by_name]
        if unknown:
            return JSONResponse(
                {"error": f"unknown SLO {', '.join(unknown)}; known: {', '.join(by_name)}"},
                status_code=404,
            )
        try:
            return {"charts": [data.charts(prom, by_name[n]) for n in names]}
        except PrometheusError as exc:
            return unavailable(exc)

    add_gameday_routes(app, gameday_state)
    return app
