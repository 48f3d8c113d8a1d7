"""Prometheus, Alertmanager and the blackbox exporter started natively with the
command lines compose gives them (bench.sandbox.native_command).

Debian ships Prometheus 2.42, Alertmanager 0.25 and blackbox 0.23 while compose pins
newer images, so a flag the Debian binary lacks is dropped (and must be one we know
is newer); every other flag is passed as written. Each must become ready and pass its
compose healthcheck (``wget``, when the host has it).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.sandbox import NATIVE_BINARIES, STAND_IN_SECRETS, load_compose, native_command
from slolab.lab.procs import free_port, spawn

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

# Flags in compose that the Debian versions do not have yet (none today).
NEWER_THAN_DEBIAN: set[str] = set()
READY_PATH = {"prometheus": "/-/ready", "alertmanager": "/-/ready", "blackbox": "/-/healthy"}


@pytest.mark.parametrize("name", sorted(NATIVE_BINARIES))
def test_compose_command_line_starts_natively(name: str, tmp_path: Path) -> None:
    if shutil.which(NATIVE_BINARIES[name]) is None:
        pytest.skip(f"{NATIVE_BINARIES[name]} not installed (Debian package)")
    compose = load_compose({"GRAFANA_ADMIN_PASSWORD": "unused"})
    svc = compose["services"][name]
    port = free_port()
    files = STAND_IN_SECRETS if name == "alertmanager" else None
    argv, dropped = native_command(name, tmp_path, port, files=files, compose=compose)
    assert set(dropped) <= NEWER_THAN_DEBIAN, f"flags unknown to Debian's {name}: {dropped}"
    proc = spawn(name, argv, tmp_path / "log", cwd=tmp_path)
    try:
        proc.wait_ready(f"http://127.0.0.1:{port}{READY_PATH[name]}")
        check = svc["healthcheck"]["test"]
        if shutil.which(check[1]):
            url = check[-1].replace(check[-1].split("/")[2], f"127.0.0.1:{port}")
            run = subprocess.run([*check[1:-1], url], capture_output=True, timeout=30)
            assert run.returncode == 0, run.stderr
    finally:
        proc.stop(timeout=30)
