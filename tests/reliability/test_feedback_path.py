"""Ground truth travels tasks -> predictor with the feedback credential; an outsider
posting to the predictor's /feedback is refused and changes nothing."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import httpx
import pytest

from tests.reliability.figures import record
from tests.reliability.services import FEEDBACK_AUTH, Service, run_pair

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only


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
        resp = httpx.patch(
            f"{tasks.url}/api/tasks/{task['id']}", json={"true_priority": "high"},
            headers=FEEDBACK_AUTH,
        )  # fmt: skip
        assert resp.status_code == 200, resp.text
    assert predictor.metric("predictor_feedback_total") == before + len(created)
    assert tasks.metric("tasks_feedback_degraded_total") == 0
    record("feedback_path", outsider_posts=10, refused=10, forwarded=len(created))


def _predictor_holds(services: dict[str, Service], task: dict, label: str) -> bool:
    """The predictor's ground truth for the task's prediction is ``label`` (asked with the
    feedback credential: the same label is a harmless duplicate, another is 409)."""
    predictor = services["predictor"]
    body = {"prediction_id": task["prediction_id"], "true_label": label}
    resp = httpx.post(f"{predictor.url}/feedback", headers=FEEDBACK_AUTH, json=body)
    assert resp.status_code in (200, 409), resp.text
    return resp.status_code == 200 and resp.json()["duplicate"]


def test_a_correction_the_predictor_refuses_is_not_acknowledged(services) -> None:
    """Before: PATCH low then high, both 200; the store said high, the predictor kept low
    (its 409 swallowed)."""
    tasks = services["tasks"]
    task = httpx.post(f"{tasks.url}/api/tasks", json={"title": "correct me"}).json()
    url = f"{tasks.url}/api/tasks/{task['id']}"
    assert httpx.patch(url, json={"true_priority": "low"}).status_code == 401  # not a labeler
    assert httpx.patch(url, json={"true_priority": "low"}, headers=FEEDBACK_AUTH).status_code == 200
    again = httpx.patch(url, json={"true_priority": "low"}, headers=FEEDBACK_AUTH)
    assert again.status_code == 200, again.text  # a retry of the same label
    second = httpx.patch(url, json={"true_priority": "high"}, headers=FEEDBACK_AUTH)
    assert second.status_code == 409, second.text
    assert second.json()["field"] == "true_priority"
    assert httpx.get(url).json()["true_priority"] == "low"
    assert _predictor_holds(services, task, "low")


def _patch(client: httpx.Client, url: str, body: dict) -> httpx.Response:
    return client.patch(url, json=body)


def test_a_race_of_labels_ends_with_store_and_predictor_agreeing(services) -> None:
    """200 PATCHes of mixed labels on one task from 8 threads, 3 rounds. Before: 3 of 5
    rounds ended with the store and the predictor holding different labels."""
    from concurrent.futures import ThreadPoolExecutor

    tasks = services["tasks"]
    disagreements = 0
    for round_ in range(3):
        task = httpx.post(f"{tasks.url}/api/tasks", json={"title": f"race {round_}"}).json()
        url = f"{tasks.url}/api/tasks/{task['id']}"
        with httpx.Client(timeout=10, headers=FEEDBACK_AUTH) as c, ThreadPoolExecutor(8) as pool:
            labels = [{"true_priority": ("low", "medium", "high")[i % 3]} for i in range(200)]
            answers = list(pool.map(functools.partial(_patch, c, url), labels))
        stored = httpx.get(url).json()["true_priority"]
        ok = [a.json()["true_priority"] for a in answers if a.status_code == 200]
        assert {a.status_code for a in answers} <= {200, 409}
        assert set(ok) == {stored}, (set(ok), stored)  # every 200 names the label kept
        disagreements += not _predictor_holds(services, task, stored)
    assert disagreements == 0
    record("feedback_race", rounds=3, patches=600, disagreements=disagreements)
