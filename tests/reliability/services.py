"""Start the real services the way an operator does (`python -m slolab serve ...`) on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from slolab.faults import feedback_token
from tests.conftest import free_port

__all__ = [
    "FEEDBACK_AUTH",
    "REPO",
    "TOKEN",
    "Service",
    "metric_value",
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
class Service:
    name: str
    url: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    auth: dict[str, str] = field(default_factory=lambda: {"Authorization": f"Bearer {TOKEN}"})

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(httpx.get(f"{self.url}/metrics", timeout=5).text, name, **labels)

    def tree(self) -> list[psutil.Process]:
        """The server process and everything it forked (gunicorn workers)."""
        assert self.proc is not None
        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]

    def rss_bytes(self) -> int:
        total = 0
        for p in self.tree():
            with suppress(psutil.NoSuchProcess):  # a worker may exit meanwhile
                total += p.memory_info().rss
        return total

    def start(self, timeout: float = 60, probe: str = "/readyz") -> Service:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "slolab", "serve", self.name],
                cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches the workers
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}{probe}", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        tail = self.log.read_text()[-3000:]
        raise AssertionError(f"{self.name} not ready in {timeout} s: {tail}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def restart(self) -> Service:
        self.stop()
        return self.start()


def service_env(name: str, state: Path, **extra: str) -> dict[str, str]:
    """Environment of one service: free port, its own state folder, admin token on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONGO_"))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    upper = name.upper()
    env.update(
        {
            f"{upper}_HOST": "127.0.0.1",
            f"{upper}_PORT": str(free_port()),
            "SLOLAB_STATE_DIR": str(state / name),
            "SLOLAB_ADMIN_TOKEN": TOKEN,
            "LOG_LEVEL": "WARNING",
            # No collector in tests: no exporter retries in the background.
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_SDK_DISABLED": "true",
        }
    )
    if name == "tasks":
        env.setdefault("TASKS_DB_PATH", str(state / "tasks" / "tasks.sqlite3"))
        # No predictor unless the test gives one: creates take the degraded path.
        env.setdefault("PREDICTOR_URL", f"http://127.0.0.1:{free_port()}")
    env.update(extra)
    return env


@contextmanager
def run_service(name: str, state: Path, **extra: str) -> Iterator[Service]:
    """A running service, always stopped afterwards."""
    env = service_env(name, state, **extra)
    port = env[f"{name.upper()}_PORT"]
    svc = Service(name, f"http://127.0.0.1:{port}", env, state / f"{name}.log")
    try:
        yield svc.start()
    finally:
        svc.stop()


def wait_until(predicate, timeout: float = 20, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def env_items(env: Mapping[str, str], *names: str) -> dict[str, str]:
    return {n: env[n] for n in names if n in env}
