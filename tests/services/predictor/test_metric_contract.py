"""The predictor exposes every metric family of slolab/contract.py, with its type and labels."""

from __future__ import annotations

import httpx
import pytest

from tests.services.metric_contract import assert_exposes_contract
from tests.services.predictor.conftest import FEATURES, FEEDBACK_AUTH


@pytest.mark.anyio
async def test_every_contract_metric_is_exposed(client: httpx.AsyncClient) -> None:
    predicted = await client.post("/predict", json=FEATURES)
    assert predicted.status_code == 200
    body = predicted.json()
    feedback = {"prediction_id": body["prediction_id"], "true_label": body["label"]}
    assert (await client.post("/feedback", json=feedback, headers=FEEDBACK_AUTH)).status_code == 200
    assert_exposes_contract("predictor", (await client.get("/metrics")).text)
