"""The Helm values as kube-prometheus-stack 88.5.3 renders them, checked offline.

Our values are merged onto the chart's own defaults (``chart/defaults.json``, as
Helm merges); what the chart copies into the operator's Prometheus and Alertmanager
resources is validated against those CRDs' schemas (``crds/``, strict), and the
Grafana data source is rendered as the chart's template renders it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.kubernetes import operator
from tests.kubernetes.manifests import CRDS, DEPLOY, ROOT, _strict

CHART = Path(__file__).parent / "chart"
CHART_VERSION = "88.5.3"
OPERATOR_VERSION = "v0.93.1"
DOC = ROOT / "docs" / "kubernetes.md"
BYTES_PER_SAMPLE = 2  # Prometheus' storage docs: "an average of only 1-2 bytes per sample"
HEADROOM = 1.2  # volume over retentionSize: write-ahead log and compaction


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    ours = yaml.safe_load((DEPLOY / "kube-prometheus-stack-values.yaml").read_text())
    return operator.helm_merge(json.loads((CHART / "defaults.json").read_text()), ours)


def _crd_spec(name: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(_strict(json.loads((CRDS / name).read_text())))


def _quantity(text: str) -> float:
    """Bytes of a Kubernetes quantity (16Gi) or a Prometheus size (13GB, base 2)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|KB|MB|GB|TB)", text)
    assert m, text
    return float(m[1]) * 1024 ** {"K": 1, "M": 2, "G": 3, "T": 4}[m[2][0]]


def _days(text: str) -> int:
    m = re.fullmatch(r"(\d+)d", text)
    assert m, text
    return int(m[1])


def test_the_prometheus_spec_validates_against_the_crd(values):
    spec = values["prometheus"]["prometheusSpec"]
    # the chart copies storageSpec into spec.storage, retention(Size) as they are
    rendered = {"retention": spec["retention"], "retentionSize": spec["retentionSize"],
                "storage": spec["storageSpec"]}  # fmt: skip
    errors = [e.message for e in _crd_spec("Prometheus-v1-spec.json").iter_errors(rendered)]
    assert errors == []
    broken = {**rendered, "storage": {"volumeClaimTemplate": {"spec": {"size": "16Gi"}}}}
    assert list(_crd_spec("Prometheus-v1-spec.json").iter_errors(broken))  # the check bites


def test_prometheus_keeps_its_data_on_a_volume_sized_from_the_retention(values):
    spec = values["prometheus"]["prometheusSpec"]
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    volume = _quantity(claim["resources"]["requests"]["storage"])
    kept = _quantity(spec["retentionSize"])
    # the rate the docs size it for, stated once there
    text = " ".join(DOC.read_text().split())
    m = re.search(r"sized for ([\d,]+) samples/s", text)
    assert m, "docs/kubernetes.md states the ingest rate the volume is sized for"
    rate = int(m[1].replace(",", ""))
    needed = _days(spec["retention"]) * 86400 * rate * BYTES_PER_SAMPLE
    assert kept >= needed, f"retentionSize {kept:.3g} B < {needed:.3g} B for the retention"
    assert volume >= kept * HEADROOM
    assert claim["accessModes"] == ["ReadWriteOnce"]


def test_the_matcher_strategy_validates_against_the_crd(values):
    strategy = values["alertmanager"]["alertmanagerSpec"]["alertmanagerConfigMatcherStrategy"]
    validator = _crd_spec("Alertmanager-v1-spec.json")
    assert list(validator.iter_errors({"alertmanagerConfigMatcherStrategy": strategy})) == []
    assert list(validator.iter_errors({"alertmanagerConfigMatcherStrategy": {"type": "Off"}}))


def test_the_alertmanager_picks_up_our_config_in_its_namespace(values):
    # templates/alertmanager/alertmanager.yaml writes both selectors as given; the
    # operator reads an empty selector as "every": every AlertmanagerConfig of every
    # namespace (a nil namespace selector would mean the chart's namespace only)
    spec = values["alertmanager"]["alertmanagerSpec"]
    assert spec["alertmanagerConfigSelector"] == {}
    assert spec["alertmanagerConfigNamespaceSelector"] == {}


def _chart_datasource(values: dict[str, Any]) -> dict[str, Any]:
    """The Prometheus data source as templates/grafana/configmaps-datasources.yaml renders it."""
    ds = values["grafana"]["sidecar"]["datasources"]
    json_data: dict[str, Any] = {"httpMethod": ds["httpMethod"]}
    if ds["exemplarTraceIdDestinations"]:  # the template's `if`: {} renders nothing
        dest = ds["exemplarTraceIdDestinations"]
        json_data["exemplarTraceIdDestinations"] = [{
            "datasourceUid": dest.get("datasourceUid"),
            "name": dest.get("traceIdLabelName"),
            "urlDisplayLabel": dest.get("urlDisplayLabel"),
        }]  # fmt: skip
    return {"uid": ds["uid"], "type": "prometheus", "jsonData": json_data}


def test_exemplars_link_to_jaeger_as_under_compose(values):
    compose = yaml.safe_load(
        (ROOT / "grafana" / "provisioning" / "datasources" / "datasources.yml").read_text()
    )
    (prometheus,) = [d for d in compose["datasources"] if d["type"] == "prometheus"]
    rendered = _chart_datasource(values)
    assert rendered["uid"] == prometheus["uid"]  # the dashboards' data source uid
    want = [(d["name"], d["datasourceUid"])
            for d in prometheus["jsonData"]["exemplarTraceIdDestinations"]]  # fmt: skip
    links = rendered["jsonData"]["exemplarTraceIdDestinations"]
    got = [(d["name"], d["datasourceUid"]) for d in links]
    assert got == want
    assert all(d["urlDisplayLabel"] for d in links)
    uids = {d["uid"] for d in values["grafana"]["additionalDataSources"]}
    assert {uid for _, uid in got} <= uids
    # the chart's default renders no link at all
    defaults = json.loads((CHART / "defaults.json").read_text())
    assert "exemplarTraceIdDestinations" not in _chart_datasource(defaults)["jsonData"]


def test_every_key_we_set_is_one_the_chart_has(values):
    # a typo in a values path is silently ignored by Helm
    defaults = json.loads((CHART / "defaults.json").read_text())
    ours = yaml.safe_load((DEPLOY / "kube-prometheus-stack-values.yaml").read_text())
    checked = {
        ("alertmanager", "alertmanagerSpec"): ours["alertmanager"]["alertmanagerSpec"],
        ("grafana", "sidecar", "datasources"): ours["grafana"]["sidecar"]["datasources"],
    }
    for path, subtree in checked.items():
        known = defaults
        for key in path:
            known = known[key]
        assert set(subtree) <= set(known), (path, set(subtree) - set(known))
    spec = ours["prometheus"]["prometheusSpec"]
    kept = defaults["prometheus"]["prometheusSpec"]
    assert {"retention", "retentionSize", "storageSpec"} <= set(spec) & set(kept)


def test_the_chart_version_is_pinned_everywhere_it_is_named():
    text = " ".join(DOC.read_text().split())
    installs = re.findall(r"helm (?:install|upgrade)[^`]*?kube-prometheus-stack[^`]*", text)
    assert installs
    for command in installs:
        assert f"--version {CHART_VERSION}" in command, command
    header = (DEPLOY / "kube-prometheus-stack-values.yaml").read_text()
    assert f"--version {CHART_VERSION}" in header
    for readme in (CHART / "README.md", CRDS / "README.md"):
        readme_text = readme.read_text()
        assert CHART_VERSION in readme_text and OPERATOR_VERSION in readme_text, readme
    assert f"kube-prometheus-stack {CHART_VERSION}" in text
    assert f"operator {OPERATOR_VERSION}" in text
