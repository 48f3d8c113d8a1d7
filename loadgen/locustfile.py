"""slolab load: realistic users of both services, shaped by a named scenario.

    SCENARIO=budget-burn locust -f loadgen/locustfile.py --headless -t 15m
    locust -f loadgen/locustfile.py --autostart          # web UI on :8089

Environment: SCENARIO (steady|ramp|spike|budget-burn|chaos), TASKS_URL,
PREDICTOR_URL, LOAD_USERS, LOAD_SPAWN_RATE, BURN_START_S, BURN_DURATION_S,
BURN_ERROR_RATE, CHAOS_SEED, SLOLAB_ADMIN_TOKEN (faults; none without it).
Every request carries the baggage ``synthetic_request=true``.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any

from locust import HttpUser, LoadTestShape, between, events, task
from locust.runners import WorkerRunner

# Locust imports this file by path: make ``loadgen`` importable from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadgen import shapes, workload
from loadgen.faults import labeler_headers

_ID = "/api/tasks/[id]"  # one stats row for every task id
# Ground truth is taken from labelers only (the feedback credential).
_LABELER = {**workload.SYNTHETIC_HEADERS, **labeler_headers(os.environ)}


def _post(
    user: Any, path: str, body: dict[str, Any], what: str, expect: int, require: str = ""
) -> Any:
    """POST a synthetic request to ``user.base + path``; another status than ``expect``, or
    an answer without ``require``, is a failure (named ``what``). Returns ``require``'s value."""
    with user.client.post(
        f"{user.base}{path}",
        json=body,
        name=path,
        headers=workload.SYNTHETIC_HEADERS,
        catch_response=True,
    ) as resp:
        if resp.status_code != expect:
            resp.failure(f"{what}: {resp.status_code}")
            return None
        value = resp.json().get(require) if require else None
        if require and not value:
            resp.failure(f"{what}: no {require} in the answer")
        return value


class TasksUser(HttpUser):
    """Someone managing a to-do list: mostly reads, some writes, completes with truth."""

    weight = 3
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        # --host applies to every user class; TASKS_URL wins for this one.
        self.base = (os.environ.get("TASKS_URL") or self.host or "").rstrip("/")
        self.rng = random.Random()
        self.mine: list[dict[str, Any]] = []

    def _url(self, path: str) -> str:
        return f"{self.base}{path}"

    @task(5)
    def list_tasks(self) -> None:
        self.client.get(
            self._url("/api/tasks?limit=20"), name="/api/tasks", headers=workload.SYNTHETIC_HEADERS
        )

    @task(3)
    def create_task(self) -> None:
        draft = workload.draft_task(self.rng)
        body = {
            "title": draft.title,
            "due_in_days": draft.due_in_days,
            "estimated_hours": draft.estimated_hours,
        }
        task_id = _post(self, "/api/tasks", body, "create", 201, require="id")
        if task_id:
            self.mine.append(
                {"id": task_id, "truth": workload.true_priority(workload.features(draft))}
            )

    @task(2)
    def read_task(self) -> None:
        if self.mine:
            item = self.rng.choice(self.mine)
            self.client.get(
                self._url(f"/api/tasks/{item['id']}"), name=_ID, headers=workload.SYNTHETIC_HEADERS
            )

    @task(2)
    def complete_task(self) -> None:
        open_items = [t for t in self.mine if not t.get("done")]
        if not open_items:
            return
        item = self.rng.choice(open_items)
        self.client.patch(
            self._url(f"/api/tasks/{item['id']}"),
            json={"done": True, "true_priority": item["truth"]},
            name=_ID,
            headers=_LABELER,
        )
        item["done"] = True

    @task(1)
    def delete_task(self) -> None:
        # Keep each user's list short: delete the oldest, done or not.
        if len(self.mine) > 5 or (self.mine and self.rng.random() < 0.3):
            item = self.mine.pop(0)
            self.client.delete(
                self._url(f"/api/tasks/{item['id']}"), name=_ID, headers=workload.SYNTHETIC_HEADERS
            )


class PredictorUser(HttpUser):
    """A client of the model API: predictions and model info (no ground truth: see tasks)."""

    weight = 1
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.base = (os.environ.get("PREDICTOR_URL") or "http://127.0.0.1:8082").rstrip("/")
        self.rng = random.Random()

    @task(5)
    def predict(self) -> None:
        # No /feedback from here: ground truth reaches the predictor only from the tasks
        # service (TasksUser.complete_task), which holds the feedback credential.
        _post(self, "/predict", workload.features(workload.draft_task(self.rng)), "predict", 200)

    @task(1)
    def model_info(self) -> None:
        self.client.get(f"{self.base}/model", name="/model", headers=workload.SYNTHETIC_HEADERS)


class ScenarioShape(LoadTestShape):
    """The one shape of this file (Locust runs the first it finds): SCENARIO's."""

    # Headless Locust applies --run-time only after a shape ends: the shape reads -t.
    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self.scenario = shapes.select(os.environ.get("SCENARIO"))()

    def reset_time(self) -> None:
        super().reset_time()
        self.scenario.reset_state()  # a new run starts its fault schedule over

    def tick(self) -> tuple[int, float] | None:
        options = getattr(getattr(self.runner, "environment", None), "parsed_options", None)
        limit = getattr(options, "run_time", None) or None
        return self.scenario.tick(self.get_run_time(), limit)


@events.test_stop.add_listener
def _clear_faults(environment: Any, **_: Any) -> None:
    """Switch off the faults this run switched on (master or local runner only)."""
    shape = environment.shape_class
    if isinstance(shape, ScenarioShape) and not isinstance(environment.runner, WorkerRunner):
        shape.scenario.cleanup()
