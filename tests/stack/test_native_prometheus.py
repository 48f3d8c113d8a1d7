"""Prometheus and Alertmanager started natively with the command lines compose gives them.

Debian ships Prometheus 2.42 and Alertmanager 0.25 while compose pins 3.x and 0.28,
so a flag the Debian binary lacks is dropped (and must be one we know is newer);
every other flag is passed as written. Container paths are mapped onto the repository
(read-only mounts, copied so the container paths inside the configs resolve) and
onto temporary folders (volumes, tmpfs); the web address moves to a free loopback
port. Each must become ready and pass its compose healthcheck (``wget``).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.sandbox import REPO, load_compose
from tests.conftest import free_port

BINARIES = {"prometheus": "prometheus", "alertmanager": "prometheus-alertmanager"}
# Flags in compose that the Debian versions do not have yet (none today).
NEWER_THAN_DEBIAN: set[str] = set()
READY_TIMEOUT_S = 60.0


def _help(binary: str) -> str:
    run = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    return run.stdout + run.stderr


def _mapped(svc: dict[str, Any], scratch: Path) -> dict[str, str]:
    """Container path -> host path for every volume and tmpfs of the service."""
    mapping = {}
    for n, volume in enumerate(svc.get("volumes") or []):
        source, target = volume.split(":")[:2]
        host = scratch / f"v{n}"
        if source.startswith("."):
            shutil.copytree(REPO / source, host)  # a copy: we rewrite paths inside it
        else:
            host.mkdir()  # a named volume, empty at first start
        mapping[target] = str(host)
    for n, entry in enumerate(svc.get("tmpfs") or []):
        host = scratch / f"t{n}"
        host.mkdir()
        mapping[entry.split(":")[0]] = str(host)
    return mapping


def _rewrite(text: str, mapping: dict[str, str]) -> str:
    for target in sorted(mapping, key=len, reverse=True):
        text = text.replace(target + "/", mapping[target] + "/").replace(
            "=" + target, "=" + mapping[target]
        )
    return text


@pytest.mark.parametrize("name", ["prometheus", "alertmanager"])
def test_compose_command_line_starts_natively(name: str, tmp_path: Path) -> None:
    binary = shutil.which(BINARIES[name])
    if binary is None:
        pytest.skip(f"{BINARIES[name]} not installed (Debian package)")
    svc = load_compose({"GRAFANA_ADMIN_PASSWORD": "unused"})["services"][name]
    mapping = _mapped(svc, tmp_path)
    for config in Path(tmp_path).glob("v*/*.y*ml"):
        config.write_text(_rewrite(config.read_text(), mapping))
    secrets = mapping.get("/etc/alertmanager/secrets")
    if secrets:  # never committed: stand-ins so the receivers load
        for key in ("pagerduty-routing-key", "slack-webhook-url"):
            (Path(secrets) / key).write_text("https://example.invalid/FAKE\n")
    known = _help(binary)
    argv, dropped = [binary], []
    for flag in svc["command"]:
        if flag.split("=")[0] not in known:
            dropped.append(flag.split("=")[0])
            continue
        argv.append(_rewrite(flag, mapping))
    assert set(dropped) <= NEWER_THAN_DEBIAN, f"flags unknown to Debian's {name}: {dropped}"
    port = free_port()
    argv.append(f"--web.listen-address=127.0.0.1:{port}")
    log = tmp_path / "log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        ready = False
        while time.monotonic() < deadline and not ready:
            assert proc.poll() is None, f"{name} exited:\n{log.read_text()[-3000:]}"
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.3)
        assert ready, f"{name} not ready:\n{log.read_text()[-3000:]}"
        check = svc["healthcheck"]["test"]
        if shutil.which(check[1]):
            url = check[-1].replace(check[-1].split("/")[2], f"127.0.0.1:{port}")
            run = subprocess.run([*check[1:-1], url], capture_output=True, timeout=30)
            assert run.returncode == 0, run.stderr
    finally:
        proc.terminate()
        proc.wait(30)
