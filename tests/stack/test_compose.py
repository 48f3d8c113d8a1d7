"""docker-compose.yml checked statically: no Docker engine runs here.

Memory limits and healthcheck binaries: test_compose_facts.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.sandbox import load_compose

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
REQUIRED_ENV = {"GRAFANA_ADMIN_PASSWORD": "test-only", "SLOLAB_ADMIN_TOKEN": "test-only"}
LOOPBACK_ONLY = {"prometheus", "alertmanager", "tasks", "predictor"}
docker_compose = shutil.which("docker-compose")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The file with ${VAR} interpolated from .env, as compose does (defaults honoured)."""
    return load_compose(REQUIRED_ENV)


@pytest.mark.skipif(docker_compose is None, reason="docker-compose not installed")
def test_docker_compose_config_validates() -> None:
    env = {**os.environ, **REQUIRED_ENV}
    run = subprocess.run(
        [docker_compose, "-f", str(COMPOSE), "config", "-q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr


@pytest.mark.skipif(docker_compose is None, reason="docker-compose not installed")
def test_grafana_password_has_no_default() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRAFANA_ADMIN_PASSWORD"}
    run = subprocess.run(
        [docker_compose, "-f", str(COMPOSE), "config", "-q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode != 0 and "GRAFANA_ADMIN_PASSWORD" in run.stderr


def test_every_mounted_repo_path_exists(compose: dict[str, Any]) -> None:
    missing = []
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes") or []:
            source = volume.split(":", 1)[0]
            # Repo paths only: host system paths (cAdvisor) and named volumes differ;
            # .lab/ holds what make writes (make history), not the checkout.
            if (source.startswith(".") and not source.startswith("./.lab/")
                    and not (ROOT / source).exists()):  # fmt: skip
                missing.append(f"{name}: {source}")
    assert not missing, missing


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = {
        v.split(":", 1)[0]
        for svc in compose["services"].values()
        for v in svc.get("volumes") or []
        if not v.startswith((".", "/"))
    }
    assert used == declared
    assert {"mongo-data", "prometheus-data", "grafana-data"} <= declared


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        image = svc.get("image", "")
        assert image, f"{name} has no image"
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        assert tag and tag != "latest", f"{name}: {image} is not pinned"


def test_healthchecks_and_restart_policies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        if svc.get("profiles"):
            continue  # one-shot tools (docker compose run): restarting them would loop
        assert svc.get("restart") == "unless-stopped", name
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert cond["condition"] == "service_healthy", f"{name} -> {dep}"
            assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has none"


def test_admin_surfaces_published_on_loopback_only(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for port in svc.get("ports") or []:
            if name in LOOPBACK_ONLY:
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_no_secret_defaults() -> None:
    text = COMPOSE.read_text()
    assert "${GRAFANA_ADMIN_PASSWORD:?" in text  # required, no built-in default
    assert "${SLOLAB_ADMIN_TOKEN:-}" in text  # empty by default: admin surface disabled
    assert not re.search(r"(routing_key|api_url|webhook_url)\s*:", text)


def test_services_read_only_and_non_root() -> None:
    compose_text = yaml.safe_load(COMPOSE.read_text())
    for name in ("tasks", "predictor", "prometheus", "grafana", "jaeger", "blackbox"):
        assert compose_text["services"][name].get("read_only") is True, name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 10001", dockerfile, re.M)
    assert dockerfile.count("FROM ") >= 2 and "AS runtime" in dockerfile
    assert "HEALTHCHECK" in dockerfile


def test_prometheus_targets_match_compose_services(compose: dict[str, Any]) -> None:
    """Every host:port Prometheus names is a compose service listening on that port."""
    prom = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    known_ports = {
        "tasks": 8081, "predictor": 8082, "prometheus": 9090, "alertmanager": 9093,
        "blackbox": 9115, "jaeger": 8888, "cadvisor": 8080,
    }  # fmt: skip
    strings = [t for am in prom["alerting"]["alertmanagers"] for sc in am["static_configs"]
               for t in sc["targets"]]  # fmt: skip
    for job in prom["scrape_configs"]:
        for sc in job.get("static_configs") or []:
            strings += sc["targets"]
        strings += [rc["replacement"] for rc in job.get("relabel_configs") or []
                    if "replacement" in rc]  # fmt: skip
    found = re.findall(r"(?:^|//)([a-z][\w-]*):(\d+)", "\n".join(strings), re.M)
    assert found
    for host, port in found:
        assert host in compose["services"], f"{host} is not a compose service"
        assert known_ports[host] == int(port), f"{host}:{port}"
    jobs = {j["job_name"] for j in prom["scrape_configs"]}
    assert {"tasks", "predictor", "blackbox-tasks", "prometheus", "alertmanager", "jaeger"} <= jobs
