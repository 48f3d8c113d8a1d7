"""The cluster's Alertmanager routes, tested with ``amtool config routes test``.

The configuration tested is the one the operator renders (tests/kubernetes/operator.py)
from the chart's default Alertmanager config (kube-prometheus-stack 88.5.3,
``chart/defaults.json``), our values file and the kind overlay's AlertmanagerConfig
and Secret as kustomize builds them: SLO alerts reach slolab's receivers exactly as
under compose, and nothing else of the cluster does.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kubernetes import operator
from tests.kubernetes.manifests import DEPLOY, KIND_OVERLAY, ROOT, build, kubectl, of_kind

amtool = shutil.which("amtool")
pytestmark = [
    pytest.mark.skipif(amtool is None, reason="amtool not installed (prometheus-alertmanager)"),
    pytest.mark.skipif(kubectl() is None, reason="kubectl not installed: no kustomize build"),
    pytest.mark.slow,  # amtool route suites (about 6 s)
]
CHART_DEFAULTS = Path(__file__).parent / "chart" / "defaults.json"
PREFIX = "slolab/slolab-slo/"
# Alerts kube-prometheus-stack's own rules send (names from its default rules).
CLUSTER_ALERTS = [
    {"alertname": "Watchdog", "severity": "none"},
    {"alertname": "KubeSchedulerDown", "severity": "critical"},
    {"alertname": "KubeControllerManagerDown", "severity": "critical"},
    {"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": "kube-system"},
    {"alertname": "KubePodNotReady", "severity": "warning", "namespace": "slolab"},
]


@functools.cache
def _built() -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
    resources = build(KIND_OVERLAY)
    (amconfig,) = of_kind(resources, "AlertmanagerConfig").values()
    secrets = {
        (s["metadata"]["name"], key): base64.b64decode(value).decode()
        for s in of_kind(resources, "Secret").values()
        for key, value in s.get("data", {}).items()
    }
    return amconfig, secrets


def _values() -> dict[str, Any]:
    ours = yaml.safe_load((DEPLOY / "kube-prometheus-stack-values.yaml").read_text())
    return operator.helm_merge(json.loads(CHART_DEFAULTS.read_text()), ours)


def _write(config: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _routes(config_file: Path, labels: dict[str, str]) -> list[str]:
    assert amtool is not None
    pairs = [f"{k}={v}" for k, v in labels.items()]
    proc = subprocess.run([amtool, "config", "routes", "test", f"--config.file={config_file}",
                           *pairs], capture_output=True, text=True, timeout=30)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().split(",")


def _slo_alerts() -> list[dict[str, str]]:
    """One label set per alert rule of the generated PrometheusRules."""
    alerts = []
    for path in sorted((DEPLOY / "base" / "generated").glob("prometheusrule-*.yaml")):
        for group in yaml.safe_load(path.read_text())["spec"]["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                labels = {"alertname": rule["alert"], **rule.get("labels", {})}
                if "slo" not in labels:  # kept from the slo:* series the rule selects
                    assert "slo:" in rule["expr"], rule["alert"]
                    labels["slo"] = "some-slo"
                alerts.append(labels)
    assert len(alerts) >= 10
    return alerts


@pytest.fixture(scope="module")
def cluster_config(tmp_path_factory) -> Path:
    amconfig, secrets = _built()
    config = operator.render(_values(), amconfig, secrets)
    return _write(config, tmp_path_factory.mktemp("am") / "alertmanager.yaml")


def test_the_rendered_configuration_is_valid(cluster_config):
    proc = subprocess.run([str(amtool), "check-config", str(cluster_config)],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("labels", CLUSTER_ALERTS, ids=lambda a: a["alertname"])
def test_cluster_alerts_never_reach_slolab_receivers(cluster_config, labels):
    assert _routes(cluster_config, labels) == ["null"]


def test_slo_alerts_route_as_under_compose(cluster_config):
    # compose's file-based tree is the reference; in the cluster every receiver is
    # namespaced by the operator and nothing else may be added (the chart's null)
    compose_config = ROOT / "alertmanager" / "alertmanager.yml"
    for labels in _slo_alerts():
        expected = [PREFIX + r for r in _routes(compose_config, labels)]
        assert _routes(cluster_config, labels) == expected, labels
        # also with the namespace label a pod-level SLI could keep
        assert _routes(cluster_config, {**labels, "namespace": "slolab"}) == expected


def test_pages_and_tickets_reach_their_receivers(cluster_config):
    page = {"alertname": "SLOErrorBudgetBurnPage", "severity": "critical", "slo": "tasks-latency"}
    ticket = {**page, "alertname": "SLOErrorBudgetBurnTicket", "severity": "warning"}
    assert _routes(cluster_config, page) == [PREFIX + "pagerduty", PREFIX + "webhook"]
    assert _routes(cluster_config, ticket) == [PREFIX + "slack", PREFIX + "webhook"]


def test_without_the_slo_matcher_the_whole_cluster_would_page(tmp_path):
    # the test above can fail: the config as generated before this matcher existed
    amconfig, secrets = _built()
    unmatched = copy.deepcopy(amconfig)
    del unmatched["spec"]["route"]["matchers"]
    config = _write(operator.render(_values(), unmatched, secrets), tmp_path / "am.yaml")
    watchdog = _routes(config, CLUSTER_ALERTS[0])
    assert watchdog[0] == PREFIX + "webhook"
    assert PREFIX + "pagerduty" in _routes(config, CLUSTER_ALERTS[1])


def test_the_namespace_strategy_would_drop_every_slo_alert(tmp_path):
    # why the values set alertmanagerConfigMatcherStrategy None: the SLO alerts sum
    # over pods and carry no namespace label, so namespace="slolab" matches none
    values = _values()
    values["alertmanager"]["alertmanagerSpec"]["alertmanagerConfigMatcherStrategy"] = {}
    amconfig, secrets = _built()
    config = _write(operator.render(values, amconfig, secrets), tmp_path / "am.yaml")
    assert {tuple(_routes(config, labels)) for labels in _slo_alerts()} == {("null",)}
