"""The copies of slolab/contract.py that cannot import it stay equal to it.

slos.yaml, docker-compose.yml, prometheus.yml and the docs are not Python;
loadgen runs in the stock Locust image without slolab installed. Each keeps a
copy of a shared fact, checked here. (The services expose the metric families
of the contract: tests/services/*/test_metric_contract.py.)
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from loadgen import shapes
from slolab import contract
from slolab.envconfig import env_float
from slolab.faults import ALLOWED, FAULT_FIELDS, Faults, FaultUpdate

ROOT = Path(__file__).resolve().parents[1]


def _yaml(rel: str) -> dict:
    return yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))


def test_slo_file_lists_the_services_buckets() -> None:
    latency = [s["sli"]["latency"] for s in _yaml("slos.yaml")["slos"] if "latency" in s["sli"]]
    assert latency, "slos.yaml has no latency SLO"
    for sli in latency:
        assert tuple(float(b) for b in sli["buckets"]) == contract.BUCKETS, sli["histogram"]


def test_loadgen_scenarios_and_chaos_faults_match() -> None:
    assert tuple(shapes.SCENARIOS) == contract.SCENARIOS
    for service in contract.SERVICES:
        expected = {
            f.name: (True if f.chaos_range is None else f.chaos_range[service])
            for f in contract.faults_of(service)
        }
        assert shapes.CHAOS_FAULTS[service] == expected, service


def test_loadgen_default_urls_use_the_contract_ports() -> None:
    settings = shapes.Settings.from_env({})
    assert settings.tasks_url.endswith(f":{contract.PORTS['tasks']}")
    assert settings.predictor_url.endswith(f":{contract.PORTS['predictor']}")


@pytest.mark.parametrize("raw", ["", "  ", "3", " 2.5 ", "0", "-1", "many", "nan", "inf", "1e400"])
def test_loadgen_reads_numbers_as_envconfig_does(raw: str) -> None:
    """loadgen's own reader (its copy of env_float, lower bound only) parses and refuses alike."""
    env = {"X": raw}
    try:
        expected: object = env_float(env, "X", 5.0, 0.0, sys.float_info.max)
    except ValueError as exc:
        expected = ValueError
        assert str(exc).startswith("X must be"), exc
    try:
        got: object = shapes._number(env, "X", 5.0, 0.0)
    except ValueError as exc:
        got = ValueError
        assert str(exc).startswith("X must be"), exc
    assert got == expected


def test_fault_model_is_the_catalogue() -> None:
    assert set(FAULT_FIELDS) == {f.name for f in contract.FAULTS}
    assert set(FAULT_FIELDS) <= set(Faults.model_fields)
    for service in contract.SERVICES:
        assert {f.name for f in contract.faults_of(service)} == ALLOWED[service]


@pytest.mark.parametrize("model", [Faults, FaultUpdate], ids=lambda m: m.__name__)
def test_fault_models_take_description_and_range_from_the_catalogue(model) -> None:
    schema = model.model_json_schema()["properties"]
    for fault in contract.FAULTS:
        field = schema[fault.name]
        assert field["description"] == fault.description, fault.name
        choices = field.get("anyOf", [field])  # FaultUpdate: the type or null
        limits = contract.FAULT_LIMITS.get(fault.kind)
        if limits is None:
            assert {"type": "boolean"} in [{"type": c.get("type")} for c in choices]
        else:
            number = next(c for c in choices if c.get("type") in ("number", "integer"))
            assert (number["minimum"], number["maximum"]) == limits, fault.name


def test_compose_publishes_the_contract_ports() -> None:
    services = _yaml("docker-compose.yml")["services"]
    for name in ("tasks", "predictor", "prometheus", "alertmanager"):
        ports = [str(p) for p in services[name].get("ports", [])]
        port = contract.PORTS[name]
        assert any(p.endswith(f":{port}:{port}") for p in ports), (name, ports)


def test_prometheus_scrapes_the_services_on_their_ports() -> None:
    text = (ROOT / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
    for name in contract.SERVICES:
        assert f"{name}:{contract.PORTS[name]}" in text, name
    for job in contract.JOBS.values():
        assert re.search(rf"job_name:\s*[\"']?{re.escape(job)}[\"']?\s*$", text, re.M), job


@pytest.mark.parametrize("service", contract.SERVICES)
def test_architecture_doc_lists_every_metric(service: str) -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for metric in contract.metrics_of(service):
        assert f"`{metric.name}`" in doc, metric.name
        for label in metric.labels:
            assert f"`{label}`" in doc, (metric.name, label)


def test_docs_name_the_contract_ports() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name in ("tasks", "predictor", "prometheus", "alertmanager", "blackbox", "locust"):
        assert re.search(rf"\| {contract.PORTS[name]}( |\|)", doc), name


def _literals(path: Path) -> Iterator[tuple[int, str | int]]:
    """String and number constants of a module, docstrings and comments left out."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    for node in ast.walk(tree):
        literal = isinstance(node, ast.Constant) and id(node) not in docstrings
        if literal and isinstance(node.value, str | int) and not isinstance(node.value, bool):
            yield node.lineno, node.value


def test_the_contract_facts_are_written_once_in_python() -> None:
    # Metric names and service ports are typed out only in slolab/contract.py: the
    # services, dashboards, history, soak and servers import them.
    names = {m.name for s in contract.SERVICES for m in contract.metrics_of(s)}
    ports = {contract.PORTS[s] for s in contract.SERVICES}
    found = []
    for top in ("slolab", "services", "bench"):
        for path in (ROOT / top).rglob("*.py"):
            if path == ROOT / "slolab" / "contract.py":
                continue
            for line, value in _literals(path):
                words = set(re.findall(r"[a-z_:]+|\d+", value)) if isinstance(value, str) else set()
                if value in ports or words & names or words & {str(p) for p in ports}:
                    found.append(f"{path.relative_to(ROOT)}:{line}: {value!r}")
    assert found == []
