from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from slolab.faults import ALLOWED, FaultController
from slolab.services.predictor.app import create_app
from slolab.services.predictor.config import Settings

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FEEDBACK_TOKEN = "test-feedback-token"  # what the tasks service sends with ground truth
FEEDBACK_AUTH = {"Authorization": f"Bearer {FEEDBACK_TOKEN}"}
FEATURES = {"title_length": 24, "urgent_words": 1, "due_in_days": 2.0, "estimated_hours": 3.5}


@pytest.fixture
def faults(tmp_path: Path) -> Iterator[FaultController]:
    ctl = FaultController("predictor", ALLOWED["predictor"], tmp_path / "state", TOKEN)
    yield ctl
    ctl.reset()


@pytest.fixture
def settings() -> Settings:
    # No background retraining in tests: each one decides when to retrain.
    return Settings(retrain_interval_s=0, feedback_token=FEEDBACK_TOKEN)


@pytest.fixture
def app(settings: Settings, faults: FaultController, monkeypatch) -> FastAPI:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    return create_app(settings, faults=faults)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # ASGITransport runs no lifespan: no process-wide tracer from these tests.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://predictor") as c:
        yield c


async def metric(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` on /metrics whose labels include ``labels``."""
    total = 0.0
    text = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total
