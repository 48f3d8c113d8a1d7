"""Kubernetes resources for the Prometheus Operator, wrapped around the other outputs.

Nothing here decides a rule, a route or a panel: each resource wraps what another
output renders from the same SLOs, so the cluster runs exactly the committed files.

- each rule file of ``prometheus-rules`` → one ``PrometheusRule`` (same groups);
- the production Alertmanager tree of ``alertmanager`` → one ``AlertmanagerConfig``
  (v1alpha1), its secret files read from one Kubernetes Secret instead, its top
  route limited to alerts carrying an ``slo`` label;
- every Grafana dashboard any output renders (a ``*.json`` with ``panels``) → a
  ConfigMap labelled for the Grafana sidecar of kube-prometheus-stack.

Written to ``deploy/kubernetes/base/generated/`` with a ``kustomization.yaml``
listing them, which the hand-written kustomize base includes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import PurePosixPath
from typing import Any

import yaml

from slolab.slo.conventions import LABEL_SLO
from slolab.slo.generate import alertmanager, rules
from slolab.slo.generate.output import GenerateOptions, Output, header, to_yaml
from slolab.slo.model import SLO

__all__ = [
    "ALERTMANAGER_CONFIG_NAME",
    "ALERTMANAGER_SECRET",
    "DASHBOARD_LABEL",
    "GENERATED_DIR",
    "MANAGED_BY",
    "ONLY_SLO_ALERTS",
    "OUTPUT",
    "alertmanager_config",
    "dashboard_configmap",
    "prometheus_rule",
    "render",
    "wrapping",
]

GENERATED_DIR = "deploy/kubernetes/base/generated"
# The label kube-prometheus-stack's Grafana sidecar looks for (its chart default).
DASHBOARD_LABEL = {"grafana_dashboard": "1"}
# Marks what the generator owns (the demo adds its own part-of label in kustomize).
MANAGED_BY = {"app.kubernetes.io/managed-by": "slolab-slo-generate"}
# One Secret holds what the file-based config reads from the secrets directory;
# its keys are the file names (pagerduty-routing-key, slack-webhook-url).
ALERTMANAGER_SECRET = "slolab-alertmanager"
ALERTMANAGER_CONFIG_NAME = "slolab-slo"
# The operator turns the config's top route into one branch of the cluster's root
# route, with continue: true. Unmatched, that branch takes every alert of the
# cluster (Watchdog, the chart's critical alerts) to our receivers; every SLO alert
# carries the slo label, nothing else of the cluster's does.
ONLY_SLO_ALERTS = {"name": LABEL_SLO, "matchType": "=~", "value": ".+"}

# metadata.name of these kinds: a DNS-1123 subdomain
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"(.*)"\s*$')


def _meta(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    if len(name) > 253 or not _NAME.match(name):
        raise ValueError(f"kubernetes: {name!r} is not a valid resource name (DNS-1123 subdomain)")
    return {"name": name, "labels": {**MANAGED_BY, **(labels or {})}}


def prometheus_rule(name: str, rule_file: Mapping[str, Any]) -> dict[str, Any]:
    """A PrometheusRule whose spec is the rule file itself (``groups:``)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _meta(name),
        "spec": {"groups": rule_file["groups"]},
    }


# --- Alertmanager configuration → AlertmanagerConfig (snake_case → camelCase) ---
def _matchers(items: Sequence[str]) -> list[dict[str, str]]:
    out = []
    for item in items:
        m = _MATCHER.match(item)
        if not m:
            raise ValueError(f"AlertmanagerConfig: cannot convert matcher {item!r}")
        out.append({"name": m[1], "matchType": m[2], "value": m[3]})
    return out


def _secret(path: str) -> dict[str, str]:
    return {"name": ALERTMANAGER_SECRET, "key": PurePosixPath(path).name}


def _pairs(mapping: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


def _same(value: Any) -> Any:
    return value


# Each known key → (CRD key, value converter). An unknown key is an error, so a
# richer Alertmanager tree cannot lose a field on its way into the cluster.
_KEYS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "receiver": ("receiver", _same),
    "group_by": ("groupBy", _same),
    "group_wait": ("groupWait", _same),
    "group_interval": ("groupInterval", _same),
    "repeat_interval": ("repeatInterval", _same),
    "continue": ("continue", _same),
    "matchers": ("matchers", _matchers),
    "name": ("name", _same),
    "url": ("url", _same),
    "send_resolved": ("sendResolved", _same),
    "routing_key_file": ("routingKey", _secret),
    "api_url_file": ("apiURL", _secret),
    "severity": ("severity", _same),
    "description": ("description", _same),
    "details": ("details", _pairs),
    "title": ("title", _same),
    "text": ("text", _same),
    "title_link": ("titleLink", _same),
    "source_matchers": ("sourceMatch", _matchers),
    "target_matchers": ("targetMatch", _matchers),
    "equal": ("equal", _same),
}
_LISTS = {
    "routes": "routes",
    "webhook_configs": "webhookConfigs",
    "pagerduty_configs": "pagerdutyConfigs",
    "slack_configs": "slackConfigs",
}


def _convert(node: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _LISTS:
            out[_LISTS[key]] = [_convert(v, f"{where}.{key}") for v in value]
        elif key in _KEYS:
            crd_key, conv = _KEYS[key]
            out[crd_key] = conv(value)
        else:
            raise ValueError(f"AlertmanagerConfig: no conversion for {where}.{key}")
    return out


def alertmanager_config(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The AlertmanagerConfig of an Alertmanager configuration tree.

    ``global`` is left out: it belongs to the operator's Alertmanager resource.
    The top route matches only SLO alerts (:data:`ONLY_SLO_ALERTS`).
    """
    unknown = set(config) - {"global", "route", "receivers", "inhibit_rules"}
    if unknown:
        raise ValueError(f"AlertmanagerConfig: no conversion for {sorted(unknown)}")
    route = _convert(config["route"], "route")
    route = {"receiver": route.pop("receiver"),
             "matchers": [ONLY_SLO_ALERTS, *route.pop("matchers", [])], **route}  # fmt: skip
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": _meta(name),
        "spec": {
            "route": route,
            "receivers": [_convert(r, "receivers") for r in config["receivers"]],
            "inhibitRules": [_convert(r, "inhibit_rules") for r in config["inhibit_rules"]],
        },
    }


def dashboard_configmap(file_name: str, text: str) -> dict[str, Any]:
    """A ConfigMap the Grafana sidecar loads as a dashboard (key = the JSON file name)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(f"dashboard-{PurePosixPath(file_name).stem}", DASHBOARD_LABEL),
        "data": {file_name: text},
    }


def _is_dashboard(rel: str, text: str) -> bool:
    if not rel.endswith(".json"):
        return False
    try:
        board = json.loads(text)
    except ValueError:
        return False
    return isinstance(board, dict) and "panels" in board


def _wraps(options: GenerateOptions, rel: str) -> str:
    return header(options, [f"The content of {rel}, as a Kubernetes resource."])


def render(
    slos: Sequence[SLO], options: GenerateOptions, wrapped: Sequence[Output] | None = None
) -> dict[str, str]:
    """The ``wrapped`` outputs' files as resources (default: the built-in rules and routes)."""
    wrapped = (rules.OUTPUT, alertmanager.OUTPUT) if wrapped is None else wrapped
    others = {o.name: o.render(slos, options) for o in wrapped}
    files: dict[str, str] = {}
    for rel, text in sorted(others.get(rules.OUTPUT.name, {}).items()):
        name = PurePosixPath(rel).stem
        resource = prometheus_rule(name, yaml.safe_load(text))
        files[f"prometheusrule-{name}.yaml"] = to_yaml(resource, _wraps(options, rel))
    am_text = others.get(alertmanager.OUTPUT.name, {}).get(alertmanager.PRODUCTION_PATH)
    if am_text is None:
        raise ValueError(f"kubernetes: no {alertmanager.PRODUCTION_PATH} to wrap")
    routes = alertmanager_config(ALERTMANAGER_CONFIG_NAME, yaml.safe_load(am_text))
    files["alertmanagerconfig.yaml"] = to_yaml(
        routes,
        header(options, [
            f"The routes of {alertmanager.PRODUCTION_PATH}. PagerDuty and Slack read Secret "
            f"{ALERTMANAGER_SECRET} (keys {alertmanager.PAGERDUTY_KEY_FILE}, "
            f"{alertmanager.SLACK_URL_FILE}); without it the operator skips this whole config.",
        ]),
    )  # fmt: skip
    for output_name in sorted(others):
        for rel, text in sorted(others[output_name].items()):
            if _is_dashboard(rel, text):
                file_name = PurePosixPath(rel).name
                stem = PurePosixPath(rel).stem
                resource = dashboard_configmap(file_name, text)
                files[f"dashboard-{stem}.yaml"] = to_yaml(resource, _wraps(options, rel))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(files),
    }
    files["kustomization.yaml"] = to_yaml(kustomization, header(options))
    return {f"{GENERATED_DIR}/{name}": text for name, text in files.items()}


OUTPUT = Output(
    name="kubernetes",
    render=render,
    owns=(f"{GENERATED_DIR}/*.yaml",),
    description="Prometheus Operator resources: PrometheusRule, AlertmanagerConfig, "
    "dashboard ConfigMaps",
)


def wrapping(outputs: Sequence[Output]) -> Output:
    """This output, wrapping ``outputs`` (an application's beside the built-in ones)."""
    return replace(OUTPUT, render=partial(render, wrapped=tuple(outputs)))
