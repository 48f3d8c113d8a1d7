"""The kubernetes output: the other outputs' files, wrapped for the Prometheus Operator."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml

import slolab.slo as slo_pkg
from slolab import demo
from slolab.slo.generate import GenerateOptions, outputs, plan
from slolab.slo.generate import alertmanager as am
from slolab.slo.generate.kubernetes import (
    ALERTMANAGER_SECRET,
    DASHBOARD_LABEL,
    GENERATED_DIR,
    alertmanager_config,
    dashboard_configmap,
    render,
)

ROOT = Path(__file__).resolve().parents[2]
promtool = shutil.which("promtool")


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    """Every file of every output, from the repository's slos.yaml (as `slolab` runs it)."""
    return plan(slo_pkg.load(ROOT / "slos.yaml"), ROOT, registry=demo.registry()).files


def _resources(generated: dict[str, str], kind: str) -> dict[str, dict]:
    found = {}
    for rel, text in generated.items():
        if rel.startswith(GENERATED_DIR + "/"):
            doc = yaml.safe_load(text)
            if doc.get("kind") == kind:
                found[PurePosixPath(rel).name] = doc
    return found


def test_registered_and_committed(generated):
    assert "kubernetes" in {o.name for o in outputs()}
    mine = [rel for rel in generated if rel.startswith(GENERATED_DIR + "/")]
    assert f"{GENERATED_DIR}/kustomization.yaml" in mine
    stale = [rel for rel in mine if (ROOT / rel).read_text() != generated[rel]]
    assert stale == [], "run `slolab slo generate` and commit the result"


def test_prometheus_rules_are_the_rule_files(generated):
    rules = _resources(generated, "PrometheusRule")
    rule_files = {r: t for r, t in generated.items() if r.startswith("prometheus/rules/")}
    assert len(rules) == len(rule_files) >= 2
    for rel, text in rule_files.items():
        resource = rules[f"prometheusrule-{PurePosixPath(rel).stem}.yaml"]
        assert resource["apiVersion"] == "monitoring.coreos.com/v1"
        assert resource["spec"] == yaml.safe_load(text), rel


@pytest.mark.skipif(promtool is None, reason="promtool not installed")
def test_prometheus_rule_groups_pass_promtool_check_rules(generated, tmp_path):
    paths = []
    for name, resource in _resources(generated, "PrometheusRule").items():
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"groups": resource["spec"]["groups"]}))
        paths.append(str(path))
    proc = subprocess.run([promtool, "check", "rules", *paths], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_alertmanager_config_keeps_the_routes(generated):
    (resource,) = _resources(generated, "AlertmanagerConfig").values()
    source = yaml.safe_load(generated[am.PRODUCTION_PATH])
    spec = resource["spec"]

    def tree(route: dict) -> tuple:
        return (route["receiver"],
                tuple(route.get("matchers", [])),
                tuple(tree(r) for r in route.get("routes", [])))  # fmt: skip

    def crd_tree(route: dict) -> tuple:
        matchers = tuple(f'{m["name"]}{m["matchType"]}"{m["value"]}"'
                         for m in route.get("matchers", []))  # fmt: skip
        return (route["receiver"], matchers, tuple(crd_tree(r) for r in route.get("routes", [])))

    # the top route takes only SLO alerts (the cluster's others are not ours to page)
    top = spec["route"]
    assert top["matchers"][0] == {"name": "slo", "matchType": "=~", "value": ".+"}
    assert crd_tree({**top, "matchers": top["matchers"][1:]}) == tree(source["route"])
    assert spec["route"]["groupBy"] == source["route"]["group_by"]
    assert [r["name"] for r in spec["receivers"]] == [r["name"] for r in source["receivers"]]
    assert len(spec["inhibitRules"]) == len(source["inhibit_rules"])
    # the secret files become keys of one Secret, named after the files
    receivers = {r["name"]: r for r in spec["receivers"]}
    assert receivers["pagerduty"]["pagerdutyConfigs"][0]["routingKey"] == {
        "name": ALERTMANAGER_SECRET, "key": am.PAGERDUTY_KEY_FILE}  # fmt: skip
    assert receivers["slack"]["slackConfigs"][0]["apiURL"] == {
        "name": ALERTMANAGER_SECRET, "key": am.SLACK_URL_FILE}  # fmt: skip


def test_alertmanager_config_refuses_what_it_cannot_convert():
    base = {"route": {"receiver": "x"}, "receivers": [{"name": "x"}], "inhibit_rules": []}
    only_slo = {"name": "slo", "matchType": "=~", "value": ".+"}
    assert alertmanager_config("n", base)["spec"]["route"] == {"receiver": "x",
                                                               "matchers": [only_slo]}  # fmt: skip
    with pytest.raises(ValueError, match=r"route\.mute_time_intervals"):
        alertmanager_config("n", {**base, "route": {"receiver": "x", "mute_time_intervals": []}})
    with pytest.raises(ValueError, match="time_intervals"):
        alertmanager_config("n", {**base, "time_intervals": []})
    with pytest.raises(ValueError, match="cannot convert matcher"):
        alertmanager_config("n", {**base, "route": {"receiver": "x", "matchers": ["a==b"]}})


def test_every_dashboard_becomes_a_sidecar_configmap(generated):
    boards = {rel: text for rel, text in generated.items()
              if rel.endswith(".json") and "panels" in json.loads(text)}  # fmt: skip
    maps = _resources(generated, "ConfigMap")
    assert len(boards) >= 3 and len(maps) == len(boards)
    for rel, text in boards.items():
        name = PurePosixPath(rel).name
        (cm,) = [m for m in maps.values() if name in m["data"]]
        assert cm["data"][name] == text
        assert DASHBOARD_LABEL.items() <= cm["metadata"]["labels"].items()


def test_kustomization_lists_every_resource(generated):
    mine = {PurePosixPath(rel).name for rel in generated if rel.startswith(GENERATED_DIR + "/")}
    kustomization = yaml.safe_load(generated[f"{GENERATED_DIR}/kustomization.yaml"])
    assert set(kustomization["resources"]) == mine - {"kustomization.yaml"}


def test_works_for_any_users_slos(toolkit_slos):
    files = render(toolkit_slos, GenerateOptions(source="test-slos.yaml"))
    names = {PurePosixPath(rel).name for rel in files}
    assert {"prometheusrule-slo-tasks.yaml", "prometheusrule-slo-predictor.yaml",
            "alertmanagerconfig.yaml", "kustomization.yaml"} <= names  # fmt: skip
    assert all(text.startswith("# generated by slolab slo generate from test-slos.yaml")
               for text in files.values())  # fmt: skip


def test_refuses_names_kubernetes_would_reject():
    assert dashboard_configmap("ok-board.json", "{}")["metadata"]["name"] == "dashboard-ok-board"
    with pytest.raises(ValueError, match="not a valid resource name"):
        dashboard_configmap("My Board.json", "{}")
