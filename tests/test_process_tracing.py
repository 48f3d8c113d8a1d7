"""A test that runs a service's tracing set-up in-process leaves no trace of it behind.

The predictor's lifespan calls ``setup_tracing``, which can instrument httpx for
the whole process (the official mode does; so did the lean one until its clients
traced themselves); an instrumented httpx replaces the ``traceparent`` its caller set.
In the full suite a later test on the same worker then asked the lab for a trace
id that was never sent (tests/e2e/test_lab_traces.py). tests/conftest.py undoes it
after each test. The second test runs after the first (file order; ``--dist
loadfile`` keeps a file on one worker) and fails without that guard.
"""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from slolab.faults import ALLOWED, FaultController
from slolab.services.predictor.app import create_app
from slolab.services.predictor.config import Settings
from tests.conftest import _httpx_traced, undo_process_tracing

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def echo_traceparent() -> Iterator[tuple[str, list[str | None]]]:
    """A local server recording the ``traceparent`` of each request it gets."""
    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("traceparent"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_predictors_lifespan_instruments_httpx_for_the_whole_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, echo_traceparent
) -> None:
    # A process whose tracing is not set up yet: an earlier test (a module's app
    # fixture) may have set it up in the lean mode, which instruments no httpx.
    undo_process_tracing()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("OTEL_SDK_DISABLED", "false")
    monkeypatch.setenv("SLOLAB_TRACING", "official")  # httpx's own instrumentation
    url, seen = echo_traceparent
    faults = FaultController("predictor", ALLOWED["predictor"], tmp_path, "token")
    app = create_app(Settings(retrain_interval_s=0), faults=faults)

    async def lifespan() -> None:
        async with app.router.lifespan_context(app):
            pass

    asyncio.run(lifespan())
    # What a service needs (its calls carry its trace), and what a test process must
    # not keep: the caller's own traceparent is replaced.
    assert _httpx_traced()
    httpx.get(url, headers={"traceparent": TRACEPARENT})
    assert seen and seen[0] != TRACEPARENT, seen


def test_a_later_test_sends_the_traceparent_it_sets(echo_traceparent) -> None:
    url, seen = echo_traceparent
    assert not _httpx_traced(), "an earlier test left httpx instrumented process-wide"
    httpx.get(url, headers={"traceparent": TRACEPARENT})
    assert seen == [TRACEPARENT]
