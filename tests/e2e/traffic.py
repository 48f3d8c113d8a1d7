"""A light, bounded load generator for the end-to-end tests (threads + httpx).

Exercises every SLO's endpoints: the tasks API (list, create, read, complete
with ground truth, delete) and the predictor (predict, feedback, model).
Ground truth for feedback is what the healthy model answered for the same
input before the test began, so accuracy is ~100% until the model drifts.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

import httpx

__all__ = ["Traffic"]

URGENT = ["urgent", "asap", "now", "critical", "today"]


def _features(rng: random.Random) -> dict[str, Any]:
    return {
        "title_length": rng.randint(5, 80),
        "urgent_words": rng.randint(0, 3),
        "due_in_days": round(rng.uniform(0, 30), 1),
        "estimated_hours": round(rng.uniform(0.5, 40), 1),
    }


class Traffic:
    """``workers`` threads, each about ``rps_per_worker`` requests a second, until stop()."""

    def __init__(
        self,
        tasks_url: str,
        predictor_url: str,
        *,
        workers: int = 2,
        rps_per_worker: float = 8.0,
        seed: int = 7,
        feedback_headers: dict[str, str] | None = None,
    ) -> None:
        self.tasks_url = tasks_url.rstrip("/")
        self.predictor_url = predictor_url.rstrip("/")
        self.workers = workers
        self.feedback_headers = feedback_headers or {}  # the credential of POST /feedback
        self.interval = 1.0 / rps_per_worker
        self.rng = random.Random(seed)
        self.counts: Counter[tuple[str, int]] = Counter()
        self.errors: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.truth: list[tuple[dict[str, Any], str]] = []

    # -- set-up ----------------------------------------------------------------

    def learn_truth(self, n: int = 24) -> None:
        """Record the healthy model's answers: the ground truth of later feedback."""
        with httpx.Client(timeout=5) as client:
            for _ in range(n):
                feats = _features(self.rng)
                resp = client.post(f"{self.predictor_url}/predict", json=feats)
                resp.raise_for_status()
                self.truth.append((feats, resp.json()["label"]))

    def start(self) -> Traffic:
        if not self.truth:
            self.learn_truth()
        for i in range(self.workers):
            t = threading.Thread(target=self._run, args=(i,), name=f"traffic-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)

    def total(self, service: str) -> int:
        with self._lock:
            return sum(n for (svc, _), n in self.counts.items() if svc == service)

    # -- the users -------------------------------------------------------------

    def _count(self, service: str, resp: httpx.Response | None, what: str = "") -> None:
        with self._lock:
            if resp is None:
                self.errors[what] += 1
            else:
                self.counts[(service, resp.status_code)] += 1

    def _run(self, index: int) -> None:
        rng = random.Random(index)
        mine: list[tuple[str, str | None]] = []  # (id, priority) of tasks this worker created
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self._step(client, rng, mine)
                except httpx.HTTPError as exc:
                    self._count("", None, type(exc).__name__)
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def _tasks(self, client: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response:
        resp = client.request(method, f"{self.tasks_url}{path}", **kw)
        self._count("tasks", resp)
        return resp

    def _predictor(self, client: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response:
        resp = client.request(method, f"{self.predictor_url}{path}", **kw)
        self._count("predictor", resp)
        return resp

    def _step(
        self, client: httpx.Client, rng: random.Random, mine: list[tuple[str, str | None]]
    ) -> None:
        roll = rng.random()
        if roll < 0.30:
            self._tasks(client, "GET", "/api/tasks", params={"limit": 20})
        elif roll < 0.45:
            words = " ".join(rng.sample(URGENT, rng.randint(0, 2)))
            body = {
                "title": f"e2e task {rng.randint(1, 10**6)} {words}".strip(),
                "due_in_days": round(rng.uniform(0, 30), 1),
                "estimated_hours": round(rng.uniform(0.5, 40), 1),
            }
            resp = self._tasks(client, "POST", "/api/tasks", json=body)
            if resp.status_code == 201:
                task = resp.json()
                mine.append((task["id"], task.get("priority")))
        elif roll < 0.55 and mine:
            self._tasks(client, "GET", f"/api/tasks/{rng.choice(mine)[0]}")
        elif roll < 0.62 and mine:
            task_id, _ = mine.pop(0)
            # No true_priority here: feedback comes only from the predictor path below,
            # whose ground truth is known, so the accuracy SLI moves only with drift.
            self._tasks(client, "PATCH", f"/api/tasks/{task_id}", json={"done": True})
            if rng.random() < 0.5:
                self._tasks(client, "DELETE", f"/api/tasks/{task_id}")
        elif roll < 0.95:
            feats, truth = rng.choice(self.truth)
            resp = self._predictor(client, "POST", "/predict", json=feats)
            if resp.status_code == 200:
                pid = resp.json()["prediction_id"]
                self._predictor(
                    client, "POST", "/feedback", json={"prediction_id": pid, "true_label": truth},
                    headers=self.feedback_headers,
                )  # fmt: skip
        else:
            self._predictor(client, "GET", "/model")
