"""SLOLAB_INSTRUMENTATION=off (benchmarks): no request metrics, no tracing, same behaviour."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from slolab.faults import FaultController
from slolab.services.tasks.app import create_app
from slolab.services.tasks.config import Settings


@pytest.fixture
def app_off(
    settings: Settings, faults: FaultController, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Flask]:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("SLOLAB_INSTRUMENTATION", "off")
    app = create_app(settings, faults=faults)
    yield app
    svc = app.extensions["slolab_tasks"]
    svc.store.close()
    svc.predictor.close()


def test_off_serves_the_api_without_request_metrics(app_off: Flask) -> None:
    client = app_off.test_client()
    created = client.post("/api/tasks", json={"title": "benchmark me"})
    assert created.status_code == 201, created.get_json()
    assert client.get("/api/tasks?limit=20").get_json()["total"] == 1
    assert client.get("/metrics").status_code == 404  # exporter not hooked in

    metrics = app_off.extensions["slolab_tasks"].metrics
    assert metrics.created._value.get() == 1  # business counters still run
    names = {m.name for m in metrics.exporter.registry.collect()}
    assert "create_task" in names
    assert not any(n.startswith("flask_http_request") for n in names)
    assert not getattr(app_off, "_is_instrumented_by_opentelemetry", False)  # no tracing
    assert "slolab.httptrace" not in app_off.extensions


def test_on_is_the_default(app: Flask) -> None:
    assert app.extensions["slolab.httptrace"]  # the lean tracing middleware
    client = app.test_client()
    assert client.post("/api/tasks", json={"title": "x"}).status_code == 201
    assert "flask_http_request_total" in client.get("/metrics").get_data(as_text=True)
