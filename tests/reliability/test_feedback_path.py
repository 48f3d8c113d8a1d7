"""Ground truth travels tasks -> predictor with the feedback credential; an outsider
posting to the predictor's /feedback is refused and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.reliability.figures import record
from tests.reliability.services import Service, run_pair


@pytest.fixture(scope="module")
def services(tmp_path_factory) -> Iterator[dict[str, Service]]:
    tmp = tmp_path_factory.mktemp("feedback")
    with run_pair(tmp, PREDICTOR_TIMEOUT="5") as services:
        yield services


def test_only_the_tasks_service_can_report_ground_truth(services) -> None:
    tasks, predictor = services["tasks"], services["predictor"]
    before = predictor.metric("predictor_feedback_total")
    created = []
    for i in range(5):
        task = httpx.post(f"{tasks.url}/api/tasks", json={"title": f"fix it now {i}"}).json()
        assert task["prediction_id"], task  # the predictor answered
        created.append(task)
    # An outsider, quoting real prediction ids: refused, nothing counted.
    for task in created:
        body = {"prediction_id": task["prediction_id"], "true_label": "low"}
        for headers in ({}, predictor.auth):  # no token; the admin token is not this one
            resp = httpx.post(f"{predictor.url}/feedback", headers=headers, json=body)
            assert resp.status_code == 401, resp.text
    assert predictor.metric("predictor_feedback_total") == before
    # The tasks service, on PATCH true_priority: counted once each.
    for task in created:
        resp = httpx.patch(f"{tasks.url}/api/tasks/{task['id']}", json={"true_priority": "high"})
        assert resp.status_code == 200, resp.text
    assert predictor.metric("predictor_feedback_total") == before + len(created)
    assert tasks.metric("tasks_feedback_degraded_total") == 0
    record("feedback_path", outsider_posts=10, refused=10, forwarded=len(created))
