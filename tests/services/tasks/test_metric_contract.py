"""tasks exposes every metric family of slolab/contract.py, with its type and labels."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.services.metric_contract import assert_exposes_contract


def test_every_contract_metric_is_exposed(client: FlaskClient) -> None:
    created = client.post("/api/tasks", json={"title": "contract"})
    assert created.status_code == 201
    assert client.delete(f"/api/tasks/{created.get_json()['id']}").status_code == 204
    assert_exposes_contract("tasks", client.get("/metrics").get_data(as_text=True))
