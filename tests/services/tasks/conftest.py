from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from slolab.faults import ALLOWED, FaultController
from slolab.lab.procs import free_port
from slolab.services.tasks.app import create_app
from slolab.services.tasks.config import Settings
from tests.services.tasks.fake_predictor import FakePredictor

TOKEN = "test-admin-token"
LABELER = "test-feedback-token"  # ground truth (PATCH true_priority) needs it
TRUTH = {"Authorization": f"Bearer {LABELER}"}


@pytest.fixture
def predictor() -> Iterator[FakePredictor]:
    with FakePredictor() as fake:
        yield fake


@pytest.fixture
def faults(tmp_path: Path) -> FaultController:
    return FaultController("tasks", ALLOWED["tasks"], tmp_path / "state", TOKEN)


@pytest.fixture
def settings(tmp_path: Path, predictor: FakePredictor) -> Settings:
    return Settings(
        db_path=tmp_path / "tasks.sqlite3", predictor_url=predictor.url, feedback_token=LABELER
    )


@pytest.fixture
def app(settings: Settings, faults: FaultController, monkeypatch) -> Iterator[Flask]:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app = create_app(settings, faults=faults)
    yield app
    svc = app.extensions["slolab_tasks"]
    svc.store.close()
    svc.predictor.close()
    faults.reset()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def metric(client: FlaskClient, name: str, **labels: str) -> float:
    """Value of one sample on /metrics (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"
