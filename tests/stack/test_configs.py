"""Prometheus, blackbox, Jaeger and Grafana provisioning configs, checked offline."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from slolab.dashboards import JAEGER_UID, PROMETHEUS_UID

ROOT = Path(__file__).resolve().parents[2]
promtool = shutil.which("promtool")
blackbox = shutil.which("prometheus-blackbox-exporter")


def _passes(*argv: str) -> None:
    """Run a tool's own config check from the repo root; it must pass."""
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.skipif(promtool is None, reason="promtool not installed")
def test_promtool_check_config() -> None:
    """Checks the config and whatever rule files its rules/*.yml glob finds."""
    _passes(promtool, "check", "config", "prometheus/prometheus.yml")


def test_prometheus_config_shape() -> None:
    cfg = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    assert cfg["rule_files"] == ["rules/*.yml"]
    for job in cfg["scrape_configs"]:
        interval = job.get("scrape_interval", cfg["global"]["scrape_interval"])
        assert interval in {"5s", "10s", "15s"}, job["job_name"]
    probe = next(j for j in cfg["scrape_configs"] if j["job_name"] == "blackbox-tasks")
    assert probe["params"]["module"] == ["http_2xx"]
    assert probe["static_configs"][0]["targets"] == ["http://tasks:8081/api/tasks"]


@pytest.mark.skipif(blackbox is None, reason="blackbox exporter not installed")
def test_blackbox_config_checks() -> None:
    _passes(blackbox, "--config.check", "--config.file", "blackbox/blackbox.yml")
    modules = yaml.safe_load((ROOT / "blackbox" / "blackbox.yml").read_text())["modules"]
    assert modules["http_2xx"]["timeout"]


def test_jaeger_config_binds_all_interfaces_and_bounds_memory() -> None:
    cfg = yaml.safe_load((ROOT / "jaeger" / "config.yaml").read_text())
    protocols = cfg["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert cfg["extensions"]["jaeger_query"]["http"]["endpoint"] == "0.0.0.0:16686"
    backends = cfg["extensions"]["jaeger_storage"]["backends"]
    store = cfg["extensions"]["jaeger_query"]["storage"]["traces"]
    assert 0 < backends[store]["memory"]["max_traces"] <= 50_000
    reader = cfg["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]
    assert reader["prometheus"]["port"] == 8888  # scraped as jaeger:8888
    assert cfg["exporters"]["jaeger_storage_exporter"]["trace_storage"] == store


def test_grafana_datasources_match_dashboards() -> None:
    doc = yaml.safe_load((ROOT / "grafana/provisioning/datasources/datasources.yml").read_text())
    by_uid = {ds["uid"]: ds for ds in doc["datasources"]}
    assert by_uid[PROMETHEUS_UID]["type"] == "prometheus"
    assert by_uid[JAEGER_UID]["type"] == "jaeger"
    assert by_uid[JAEGER_UID]["url"] == "http://jaeger:16686"
    links = by_uid[PROMETHEUS_UID]["jsonData"]["exemplarTraceIdDestinations"]
    assert links == [{"name": "trace_id", "datasourceUid": JAEGER_UID}]


def test_grafana_dashboard_provider_points_at_the_mount() -> None:
    doc = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/dashboards.yml").read_text())
    path = doc["providers"][0]["options"]["path"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{path}:ro" in mounts
    assert list((ROOT / "grafana" / "dashboards").glob("*.json"))


def test_each_probe_has_a_module_that_matches_its_endpoint() -> None:
    cfg = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    modules = yaml.safe_load((ROOT / "blackbox" / "blackbox.yml").read_text())["modules"]
    probes = {
        j["job_name"]: j for j in cfg["scrape_configs"] if j["job_name"].startswith("blackbox-")
    }
    assert set(probes) == {"blackbox-tasks", "blackbox-predictor"}
    for name, want in (("blackbox-tasks", '"items"'), ("blackbox-predictor", '"version"')):
        (module,) = probes[name]["params"]["module"]
        assert modules[module]["http"]["fail_if_body_not_matches_regexp"] == [want], name
    assert probes["blackbox-predictor"]["static_configs"][0]["targets"] == [
        "http://predictor:8082/model"
    ]
