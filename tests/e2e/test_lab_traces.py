"""A failed call's trace, from the dashboard to its waterfall, in a real headless Chromium.

The lab stores the services' traces itself (no Jaeger here). With the
predictor's error fault on, a task creation still answers 201 (tasks degrades
gracefully) and its trace holds the failure: the predictor's SERVER span with
status ERROR under tasks' CLIENT span. On the session's shared lab: run in one
process after test_lab.py and test_lab_dashboard.py (file order), minutes into
their outages and faults; switches its fault off again. SLOLAB_SCREENSHOT_DIR
keeps the screenshot.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from slolab.tracestore import TraceReader
from tests.browser import chromium_page
from tests.e2e.conftest import E2E

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _unsampled_trace_id() -> str:
    # Low 64 bits above SLOLAB_TRACE_KEEP_RATIO's share: only the failure can keep this
    # trace, never the 10% of healthy traces chosen by id.
    return format(secrets.randbits(64) << 64 | 0xE << 60 | secrets.randbits(60), "032x")


@pytest.fixture(scope="module")
def failed_creation(e2e: E2E) -> Iterator[str]:
    """The trace id of one task creation made while the predictor fails every call."""
    assert e2e.lab.traces == "store", e2e.lab.traces
    e2e.fault("predictor", error_rate=1.0)
    try:
        trace_id = _unsampled_trace_id()
        # urllib, as curl would: an httpx instrumented in this process (a service's
        # tracing set up in-process by another test) would send a traceparent of its own.
        req = urllib.request.Request(
            f"{e2e.lab.url('tasks')}/api/tasks",
            data=json.dumps({"title": "trace me: a failed estimate"}).encode(),
            headers={
                "Content-Type": "application/json",
                "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
            },
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            created = json.load(resp)
            assert resp.status == 201 and created["priority"] is None, created
        # The services' batch processors send within seconds (5 s schedule); a busy
        # receiver's 429 is retried within the exporter's 10 s timeout.
        reader = TraceReader(e2e.lab.trace_store_path)
        deadline = time.monotonic() + 60
        while not reader.trace(trace_id) and time.monotonic() < deadline:
            time.sleep(0.5)
        if not reader.trace(trace_id):
            counts = httpx.get(f"{e2e.lab.url('otlp')}/metrics", timeout=5).text
            faults = {s: e2e.fault(s, "GET") for s in ("tasks", "predictor")}
            pytest.fail(f"trace {trace_id} never reached the lab's store; receiver:\n{counts}"
                        f"\nfaults: {faults}")  # fmt: skip
        time.sleep(1.0)  # the other service's batch, if it comes
        yield trace_id
    finally:
        e2e.fault("predictor", method="DELETE")


@pytest.fixture(scope="module")
def waterfall(e2e: E2E, failed_creation: str, tmp_path_factory) -> Iterator[object]:
    """The browser, having gone from the dashboard to the failed creation's waterfall."""
    with chromium_page() as page:
        page.goto(e2e.lab.url("dashboard") + "/")
        # The main page's trace panel (the store's count) leads to the trace view.
        page.wait_for_function(
            "Number(document.getElementById('trace-panel').dataset.traces || 0) >= 1",
            timeout=30_000,
        )
        page.click("#trace-panel h2 a")
        page.wait_for_url("**/traces")
        # The list filters to failed traces (the load makes many while the fault is on).
        page.select_option("#filters select[name=status]", "error")
        page.wait_for_function(
            "document.querySelectorAll('#trace-list tr.trace').length >= 1 && "
            "[...document.querySelectorAll('#trace-list tr.trace td:nth-child(5)')]"
            ".every(td => Number(td.textContent) >= 1)",
            timeout=30_000,
        )
        # The creation's trace by its id, as a user pastes it from a log line.
        page.fill("#lookup input[name=trace_id]", failed_creation.upper())
        page.click("#lookup button")
        page.wait_for_function(
            "Number(document.getElementById('waterfall').dataset.spans || 0) >= 1"
        )
        folder = Path(os.environ.get("SLOLAB_SCREENSHOT_DIR") or tmp_path_factory.mktemp("shots"))
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / "trace-waterfall.png"), full_page=False)
        yield page


def _rows(page: object) -> list[dict[str, str]]:
    return page.evaluate(  # type: ignore[attr-defined]
        "[...document.querySelectorAll('#waterfall .span-row')].map(r => ({...r.dataset}))"
    )


@pytest.mark.timeout(240)
def test_the_failed_call_opens_from_the_dashboard_with_its_failing_span(
    waterfall: object, failed_creation: str
) -> None:
    rows = _rows(waterfall)
    failing = [r for r in rows if r["service"] == "predictor" and r["kind"] == "server"]
    assert failing and failing[0]["error"] == "true", rows
    assert waterfall.locator("#trace-id").text_content() == failed_creation  # type: ignore[attr-defined]
    # Its attributes are one click away.
    waterfall.locator('#waterfall .span-row[data-service="predictor"]').first.click()  # type: ignore[attr-defined]
    detail = waterfall.locator("#waterfall .detail").first.text_content() or ""  # type: ignore[attr-defined]
    assert "http.response.status_code" in detail and "500" in detail, detail


@pytest.mark.timeout(60)
def test_the_waterfall_holds_all_three_spans_with_their_links(waterfall: object) -> None:
    rows = _rows(waterfall)
    assert sorted((r["service"], r["kind"]) for r in rows) == [
        ("predictor", "server"), ("tasks", "client"), ("tasks", "server"),
    ], rows  # fmt: skip
    by_kind = {(r["service"], r["kind"]): r for r in rows}
    server, client = by_kind["tasks", "server"], by_kind["tasks", "client"]
    assert client["parent"] == server["spanId"]
    assert by_kind["predictor", "server"]["parent"] == client["spanId"]
