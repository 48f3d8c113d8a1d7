"""The dashboard's trace view: recent traces and one trace's waterfall, from the lab's store.

``GET /traces`` is the page (``static/traces.html``); ``GET /traces#<trace id>``
opens one trace. It reads the SQLite store the lab's OTLP receiver writes
(:mod:`slolab.tracestore`, ``slolab dashboard --traces-db``). With a Jaeger UI
instead (``--jaeger-url``) every trace link leads there. :func:`trace_link` is
the one place that decides where a trace id on any part of the dashboard goes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Query
from fastapi.responses import FileResponse, JSONResponse

from slolab.tracestore import TraceQuery, TraceReader

__all__ = ["TRACE_ID", "register", "trace_link"]

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
STATIC = Path(__file__).parent / "static"


def trace_link(trace_id: str, *, jaeger_url: str | None, store: bool) -> str | None:
    """Where the page links ``trace_id``: Jaeger's UI, the trace view, or nowhere."""
    if jaeger_url:
        return f"{jaeger_url.rstrip('/')}/trace/{quote(trace_id)}"
    if store:
        # Relative: the dashboard may sit behind a proxy under a path prefix.
        return f"traces#{quote(trace_id)}"
    return None


def register(app: FastAPI, reader: TraceReader | None, jaeger_url: str | None) -> None:
    """Add the trace page and its JSON endpoints to the dashboard ``app``."""

    def no_store() -> JSONResponse:
        where = f"traces are in Jaeger: {jaeger_url}" if jaeger_url else "no trace store"
        return JSONResponse(
            {"error": f"{where} (slolab dashboard --traces-db)", "jaeger_url": jaeger_url},
            status_code=404,
        )

    @app.get("/traces", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "traces.html", media_type="text/html")

    @app.get("/api/traces", response_model=None)
    def recent(
        service: str | None = Query(default=None, max_length=256),
        status: str | None = Query(default=None, pattern="^(error|ok)$"),
        min_ms: float | None = Query(default=None, ge=0),
        max_ms: float | None = Query(default=None, ge=0),
        limit: int = Query(default=50, ge=1, le=500),
    ) -> dict[str, Any] | JSONResponse:
        if reader is None:
            return no_store()
        query = TraceQuery(service or None, status, min_ms, max_ms, limit)
        return {"traces": reader.recent(query), "stored": reader.counts()}

    @app.get("/api/traces/count", response_model=None)
    def count() -> dict[str, Any] | JSONResponse:
        if reader is None:
            return no_store()
        return {"stored": reader.counts()}

    @app.get("/api/traces/{trace_id}", response_model=None)
    def one(trace_id: str) -> dict[str, Any] | JSONResponse:
        trace_id = trace_id.lower()
        if not TRACE_ID.match(trace_id):
            return JSONResponse(
                {"error": f"not a trace id (32 hex digits): {trace_id[:64]!r}"}, status_code=400
            )
        if reader is None:
            return no_store()
        spans = reader.trace(trace_id)
        if not spans:
            return JSONResponse(
                {"error": f"trace {trace_id} is not in the store (not kept, or evicted)"},
                status_code=404,
            )
        return {"trace_id": trace_id, "spans": spans}
