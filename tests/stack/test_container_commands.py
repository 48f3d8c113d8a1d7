"""Our container commands, run the way compose runs them (bench/sandbox.py).

tasks, predictor and alert-receiver each start from docker-compose.yml's ``command``
and ``environment`` plus the Dockerfile's ENTRYPOINT, ENV and USER: uid 10001, every
mount read-only, only the compose tmpfs (and Docker's /dev/shm) writable. Each must
become ready, pass its compose healthcheck, stop cleanly on SIGTERM, and log no
write refused by the read-only root. The dashboard, which has no tmpfs, the same.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from bench.sandbox import REPO, Image, Sandbox, can_sandbox, load_compose, native_overrides
from slolab.lab.procs import free_port, ready_timeout

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(can_sandbox() is not None, reason=f"no sandbox: {can_sandbox()}"),
]
REFUSED = re.compile(r"Read-only file system|EROFS|Permission denied", re.I)
SIGTERM_EXIT = (0, -15)  # the alert receiver leaves on the signal itself


def _healthcheck_argv(test: list[str]) -> list[str]:
    """The compose healthcheck as it runs here: our image's script from the repository."""
    assert test[0] == "CMD", test
    copies = Image.from_dockerfile().copies
    binary = next((src for dest, src in copies.items() if Path(dest).name == test[1]), None)
    return [str(REPO / binary) if binary else test[1], *test[2:]]


@pytest.mark.parametrize("name", ["predictor", "tasks", "alert-receiver"])
def test_runs_read_only_as_compose_runs_it(name: str, tmp_path: Path) -> None:
    compose = load_compose({"GRAFANA_ADMIN_PASSWORD": "unused"})
    port = free_port()
    env, command = native_overrides(name, port)
    sb = Sandbox.for_service(name, log=tmp_path / "log", env=env, command=command,
                             compose=compose)  # fmt: skip
    sb.start()
    try:
        sb.wait_ready(f"http://127.0.0.1:{port}/readyz")
        procs = sb.processes()
        assert procs and {p.uids().real for p in procs} == {Image.from_dockerfile().uid}
        check = compose["services"][name]["healthcheck"]["test"]
        run = subprocess.run(
            _healthcheck_argv(check), env={**os.environ, **env},
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert run.returncode == 0, f"healthcheck {check} failed: {run.stderr}"
    finally:
        outcome = sb.stop()
    assert outcome.returncode in SIGTERM_EXIT, outcome.log[-3000:]
    refused = [line for line in outcome.log.splitlines() if REFUSED.search(line)]
    assert not refused, refused
    tmpfs = [path for path, _ in sb.spec.tmpfs]
    assert all(any(p.startswith(t + "/") for t in tmpfs) for p in outcome.written)
    if name == "tasks":
        # Multiprocess metrics and the store really live on the tmpfs.
        assert any("prometheus-multiproc/" in p for p in outcome.written), outcome.written


def test_the_dashboard_runs_read_only_as_compose_runs_it(tmp_path: Path) -> None:
    """The dashboard has no tmpfs in compose: it must write nothing, and pass its check.
    Here: a free port, the repository's slos.yaml (compose mounts it), no Prometheus."""
    compose = load_compose({"GRAFANA_ADMIN_PASSWORD": "unused"})
    svc = compose["services"]["dashboard"]
    assert "tmpfs" not in svc
    port = free_port()
    command = [*svc["command"]]
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    url = f"http://127.0.0.1:{port}"
    env = {
        "HEALTHCHECK_URL": f"{url}/healthz",
        "SLOLAB_SLO_FILE": str(REPO / "slos.yaml"),
        "PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens: errors shown
    }
    sb = Sandbox.for_service("dashboard", log=tmp_path / "log", env=env, command=command,
                             compose=compose)  # fmt: skip
    sb.start()
    try:
        sb.wait_ready(f"{url}/healthz")
        assert httpx.get(f"{url}/", timeout=30).status_code == 200
        for path in ("/api/state", "/api/charts"):  # Prometheus down: 502, said in JSON
            resp = httpx.get(url + path, timeout=30)
            assert resp.status_code in (200, 502) and resp.json(), path
        procs = sb.processes()
        assert procs and {p.uids().real for p in procs} == {Image.from_dockerfile().uid}
        check = svc["healthcheck"]["test"]
        run = subprocess.run(_healthcheck_argv(check), env={**os.environ, **env},
                             capture_output=True, text=True, timeout=30)  # fmt: skip
        assert run.returncode == 0, f"healthcheck {check} failed: {run.stderr}"
    finally:
        outcome = sb.stop()
    assert outcome.returncode in SIGTERM_EXIT, outcome.log[-3000:]
    assert not [line for line in outcome.log.splitlines() if REFUSED.search(line)]
    tmpfs = [path for path, _ in sb.spec.tmpfs]  # Docker's /dev/shm only
    assert all(any(p.startswith(t + "/") for t in tmpfs) for p in outcome.written)


def _started(name: str, log: Path, **changes: str) -> tuple[Sandbox, int]:
    """``name`` started in a sandbox on a free port, with ``changes`` to its environment."""
    port = free_port()
    env, command = native_overrides(name, port)
    sb = Sandbox.for_service(name, log=log, env={**env, **changes}, command=command)
    sb.start()
    return sb, port


def test_the_sandbox_refuses_writes_outside_the_tmpfs(tmp_path: Path) -> None:
    """The check above can fail: state pointed off the tmpfs stops the service."""
    probe = "/var/tmp/slolab-sandbox-probe"
    sb, _ = _started("predictor", tmp_path / "log", SLOLAB_STATE_DIR=probe)
    try:
        sb.proc.popen.wait(ready_timeout())  # type: ignore[union-attr]
    finally:
        outcome = sb.stop()
    assert outcome.returncode not in SIGTERM_EXIT
    assert REFUSED.search(outcome.log), outcome.log[-2000:]
    assert not Path(probe).exists()


def test_gunicorn_control_socket_needs_the_runtime_dir(tmp_path: Path) -> None:
    """Without the image's XDG_RUNTIME_DIR, gunicorn's control socket hits the read-only
    root ("Control server error: Read-only file system"); with it, it sits on the tmpfs."""
    assert Image.from_dockerfile().env.get("XDG_RUNTIME_DIR") == "/tmp"
    sb, port = _started("tasks", tmp_path / "log", XDG_RUNTIME_DIR="")
    try:
        sb.wait_ready(f"http://127.0.0.1:{port}/readyz")
        deadline = time.monotonic() + 10  # the control server starts after the workers
        while time.monotonic() < deadline and "ontrol" not in sb.log.read_text():
            time.sleep(0.2)
    finally:
        outcome = sb.stop()
    if "gunicorn" not in outcome.log:
        pytest.skip("tasks no longer runs gunicorn")
    if "control" not in outcome.log.lower():
        pytest.skip("this gunicorn has no control socket")
    assert REFUSED.search(outcome.log), outcome.log[-2000:]
