"""One unhandled error is one JSON log line, a JSON 500, and one count in the metrics:
the error never reaches the server, which would log it again in plain text."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from slolab.faults import ALLOWED, FaultController
from slolab.lab.procs import free_port
from slolab.services.predictor.app import create_app as create_predictor
from slolab.services.predictor.config import Settings as PredictorSettings
from slolab.services.tasks.app import create_app as create_tasks
from slolab.services.tasks.config import Settings as TasksSettings
from tests.reliability.services import metric_value

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.anyio
async def test_predictor_logs_an_unhandled_error_once(tmp_path: Path, caplog, monkeypatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    ctl = FaultController("predictor", ALLOWED["predictor"], tmp_path, None)
    app = create_predictor(PredictorSettings(retrain_interval_s=0), faults=ctl)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    # raise_app_exceptions: an exception leaving the app is what the server logs again.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://p") as client:
        caplog.clear()
        resp = await client.get("/boom")
        assert resp.status_code == 500 and resp.json() == {"error": "internal error"}
        errors = _errors(caplog)
        assert len(errors) == 1 and errors[0].exc_info is not None, errors
        text = (await client.get("/metrics")).text
    assert metric_value(text, "http_requests_total", handler="/boom", status="500") == 1


def test_tasks_logs_an_unhandled_error_once(tmp_path: Path, caplog, monkeypatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    ctl = FaultController("tasks", ALLOWED["tasks"], tmp_path / "state", None)
    cfg = TasksSettings(
        db_path=tmp_path / "t.sqlite3", predictor_url=f"http://127.0.0.1:{free_port()}"
    )
    app = create_tasks(cfg, faults=ctl)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    client = app.test_client()
    caplog.clear()
    resp = client.get("/boom")  # the test client re-raises what escapes the app
    assert resp.status_code == 500 and resp.get_json() == {"error": "internal error"}
    errors = _errors(caplog)
    assert len(errors) == 1 and errors[0].exc_info is not None, errors
    text = client.get("/metrics").get_data(as_text=True)
    assert metric_value(text, "flask_http_request_total", status="500") == 1
    app.extensions["slolab_tasks"].store.close()
