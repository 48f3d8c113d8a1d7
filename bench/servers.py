"""Start both services natively for a benchmark, as an operator would (``slolab serve``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

__all__ = ["Service", "free_port", "start", "tree_cpu_seconds"]

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """Ask the OS for a free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its children (gunicorn workers)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


@dataclass
class Service:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM the server (its own process group), SIGKILL after ``grace_s``."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def _wait_ready(svc: Service, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if svc.proc.poll() is not None:
            raise RuntimeError(f"{svc.name} exited at start:\n{svc.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{svc.url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    svc.stop()
    raise RuntimeError(f"{svc.name} not ready in {limit_s:.0f}s:\n{svc.log.read_text()[-3000:]}")


def start(name: str, state: Path, env: Mapping[str, str]) -> Service:
    """Start ``slolab serve NAME`` on a free port with ``state`` as its folder; wait until ready.

    ``env`` is added to a copy of this environment without inherited ``OTEL_*``,
    ``SLOLAB_*`` and service settings, so each run is configured only by the harness.
    """
    port = free_port()
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "SLOLAB_", "TASKS_", "PREDICTOR_", "PROMETHEUS_", "MONGO_"))
    }
    state.mkdir(parents=True, exist_ok=True)
    prefix = name.upper()
    full = {
        **base,
        f"{prefix}_HOST": "127.0.0.1",
        f"{prefix}_PORT": str(port),
        "SLOLAB_STATE_DIR": str(state),
        **env,
    }
    log = state / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "slolab", "serve", name],
            cwd=REPO,
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: stop() reaches gunicorn's workers
        )
    svc = Service(name, f"http://127.0.0.1:{port}", proc, log)
    _wait_ready(svc)
    return svc
