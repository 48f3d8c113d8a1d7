"""SLOLAB_INSTRUMENTATION=off (benchmarks): no HTTP metrics, no tracing, same answers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from slolab.faults import FaultController
from slolab.services.predictor.app import create_app
from slolab.services.predictor.config import Settings
from tests.services.predictor.conftest import FEATURES, metric

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client_off(
    settings: Settings, faults: FaultController, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("SLOLAB_INSTRUMENTATION", "off")
    app = create_app(settings, faults=faults)
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)  # no tracing
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://predictor") as c:
        yield c


async def test_off_predicts_without_http_metrics(client_off: httpx.AsyncClient) -> None:
    resp = await client_off.post("/predict", json=FEATURES)
    assert resp.status_code == 200, resp.text
    label = resp.json()["label"]
    assert await metric(client_off, "http_requests_total") == 0
    # Business counters still run, so the code path is the same as with instrumentation on.
    assert await metric(client_off, "predictor_predictions_total", label=label) == 1


async def test_on_counts_http_requests(client: httpx.AsyncClient) -> None:
    assert (await client.post("/predict", json=FEATURES)).status_code == 200
    assert await metric(client, "http_requests_total", handler="/predict", status="200") == 1
