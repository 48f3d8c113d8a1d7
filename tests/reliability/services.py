"""Start the real services the way an operator does (`python -m slolab serve ...`) on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from slolab.faults import feedback_token
from slolab.lab import procs
from slolab.lab.procs import ServiceProcess, free_port

__all__ = [
    "FEEDBACK_AUTH",
    "REPO",
    "TOKEN",
    "Service",
    "metric_value",
    "run_pair",
    "run_service",
    "service_env",
]

REPO = Path(__file__).resolve().parents[2]
TOKEN = "reliability-admin-token"
# What both services derive from TOKEN: the credential of POST /feedback.
FEEDBACK_AUTH = {"Authorization": f"Bearer {feedback_token({'SLOLAB_ADMIN_TOKEN': TOKEN})}"}


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels`` (0 when absent)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


@dataclass
class Service(ServiceProcess):
    """A service of these tests: the admin token's header and metric look-ups beside it."""

    auth: dict[str, str] = field(default_factory=lambda: {"Authorization": f"Bearer {TOKEN}"})

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(httpx.get(f"{self.url}/metrics", timeout=5).text, name, **labels)

    def tree(self) -> list[psutil.Process]:
        """The server process and everything it forked (gunicorn workers)."""
        root = psutil.Process(self.pid)
        return [root, *root.children(recursive=True)]


def service_env(name: str, state: Path, **extra: str) -> dict[str, str]:
    """Environment of one service: free port, its own state folder, admin token on."""
    env = {
        "SLOLAB_ADMIN_TOKEN": TOKEN,
        "LOG_LEVEL": "WARNING",
        # No collector in tests: no exporter retries in the background.
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_SDK_DISABLED": "true",
    }
    if name == "tasks":
        env["TASKS_DB_PATH"] = str(state / "tasks" / "tasks.sqlite3")
        # No predictor unless the test gives one: creates take the degraded path.
        env["PREDICTOR_URL"] = f"http://127.0.0.1:{free_port()}"
    return procs.service_env(name, state / name, **{**env, **extra})


@contextmanager
def run_service(name: str, state: Path, **extra: str) -> Iterator[Service]:
    """A running service, always stopped afterwards."""
    svc = Service(name, service_env(name, state, **extra), state / f"{name}.log", REPO)
    try:
        yield svc.start()
    finally:
        svc.stop()


@contextmanager
def run_pair(
    state: Path, predictor: Mapping[str, str] | None = None, **tasks: str
) -> Iterator[dict[str, Service]]:
    """The predictor (no scheduled retraining) and tasks calling it, both ready; stopped after.

    ``predictor`` is added to the predictor's environment, ``tasks`` to tasks'.
    """
    predictor_env = {"PREDICTOR_RETRAIN_INTERVAL_S": "0", **(predictor or {})}
    with (
        run_service("predictor", state, **predictor_env) as pred,
        run_service("tasks", state, **{"PREDICTOR_URL": pred.url, **tasks}) as tasks_svc,
    ):
        yield {"tasks": tasks_svc, "predictor": pred}


def wait_until(predicate, timeout: float = 20, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
