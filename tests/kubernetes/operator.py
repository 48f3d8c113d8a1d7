"""What the cluster's Alertmanager runs: the chart's configuration plus our AlertmanagerConfig.

No operator runs here, so this renders what prometheus-operator 0.93 renders
(``pkg/alertmanager/amcfg.go`` at the commit of ``crds/README.md``:
``ConfigBuilder.AddAlertmanagerConfigs``), for the fields our config uses:

- the base is the Alertmanager ``config`` of the Helm values (the chart's default
  merged with ours, as Helm merges: maps key by key, lists replaced);
- each receiver, and each route's receiver, is renamed ``namespace/config/name``;
- each matcher becomes the string ``name<op>"value"`` (Alertmanager ≥ 0.22);
- the config's top route gets the matcher strategy's namespace matcher
  (``OnNamespace``, the default; none with ``None``) and always ``continue: true``,
  and goes *before* the base's own routes; inhibit rules are appended (with the
  namespace matcher on both sides under ``OnNamespace``);
- secret references are replaced by the Secret's value.

Anything else in the AlertmanagerConfig is an error here, so a new field cannot
slip past the routing test unrendered.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["helm_merge", "render"]

Secrets = Mapping[tuple[str, str], str]  # (secret name, key) -> value


def helm_merge(defaults: Any, override: Any) -> Any:
    """Helm's values merge: maps merged key by key, anything else replaced."""
    if isinstance(defaults, dict) and isinstance(override, dict):
        out = dict(defaults)
        for key, value in override.items():
            out[key] = helm_merge(defaults.get(key), value)
        return out
    return copy.deepcopy(override)


def _escape(value: str) -> str:
    # Matcher.String(): openMetricsEscape
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _matcher(m: Mapping[str, Any]) -> str:
    unknown = set(m) - {"name", "matchType", "value"}
    if unknown or "matchType" not in m:
        raise ValueError(f"not rendered here: matcher {dict(m)}")
    return f'{m["name"]}{m["matchType"]}"{_escape(m.get("value", ""))}"'


_ROUTE_KEYS = {
    "groupBy": "group_by",
    "groupWait": "group_wait",
    "groupInterval": "group_interval",
    "repeatInterval": "repeat_interval",
    "continue": "continue",
}


def _route(r: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    unknown = set(r) - {"receiver", "matchers", "routes", *_ROUTE_KEYS}
    if unknown:
        raise ValueError(f"not rendered here: route fields {sorted(unknown)}")
    out: dict[str, Any] = {"receiver": prefix + r["receiver"]}
    out |= {_ROUTE_KEYS[k]: v for k, v in r.items() if k in _ROUTE_KEYS}
    if r.get("matchers"):
        out["matchers"] = [_matcher(m) for m in r["matchers"]]
    if r.get("routes"):
        out["routes"] = [_route(child, prefix) for child in r["routes"]]
    return out


def _secret(ref: Mapping[str, str], secrets: Secrets) -> str:
    return secrets[(ref["name"], ref["key"])]


def _receiver(rec: Mapping[str, Any], prefix: str, secrets: Secrets) -> dict[str, Any]:
    out: dict[str, Any] = {"name": prefix + rec["name"]}
    for c in rec.get("webhookConfigs", []):
        out.setdefault("webhook_configs", []).append(
            {"url": c["url"], "send_resolved": c.get("sendResolved", True)})  # fmt: skip
    for c in rec.get("pagerdutyConfigs", []):
        out.setdefault("pagerduty_configs", []).append({
            "routing_key": _secret(c["routingKey"], secrets),
            "severity": c["severity"],
            "description": c["description"],
            "details": {d["key"]: d["value"] for d in c.get("details", [])},
            "send_resolved": c.get("sendResolved", True),
        })  # fmt: skip
    for c in rec.get("slackConfigs", []):
        out.setdefault("slack_configs", []).append({
            "api_url": _secret(c["apiURL"], secrets),
            "title": c["title"],
            "text": c["text"],
            "title_link": c["titleLink"],
            "send_resolved": c.get("sendResolved", False),
        })  # fmt: skip
    known = {"name", "webhookConfigs", "pagerdutyConfigs", "slackConfigs"}
    if set(rec) - known:
        raise ValueError(f"not rendered here: receiver fields {sorted(set(rec) - known)}")
    return out


def render(
    values: Mapping[str, Any], amconfig: Mapping[str, Any], secrets: Secrets
) -> dict[str, Any]:
    """The Alertmanager configuration the operator writes for ``amconfig`` under ``values``."""
    am = values["alertmanager"]
    config = copy.deepcopy(am["config"])
    strategy = (am["alertmanagerSpec"].get("alertmanagerConfigMatcherStrategy") or {}).get(
        "type", "OnNamespace"
    )
    namespace = amconfig["metadata"]["namespace"]
    prefix = f"{namespace}/{amconfig['metadata']['name']}/"
    # The Alertmanager runs in the chart's namespace, never slolab's: the
    # OnNamespaceExceptForAlertmanagerNamespace strategy acts as OnNamespace here.
    enforce = strategy != "None"
    ns_matcher = f'namespace="{_escape(namespace)}"'
    spec = amconfig["spec"]
    if set(spec) - {"route", "receivers", "inhibitRules"}:
        raise ValueError(f"not rendered here: spec fields {sorted(spec)}")
    for rule in spec.get("inhibitRules", []):
        out = {
            "source_matchers": [_matcher(m) for m in rule.get("sourceMatch", [])],
            "target_matchers": [_matcher(m) for m in rule.get("targetMatch", [])],
            "equal": list(rule.get("equal", [])),
        }
        if enforce:
            for side in ("source_matchers", "target_matchers"):
                if ns_matcher not in out[side]:
                    out[side].append(ns_matcher)
        config.setdefault("inhibit_rules", []).append(out)
    top = _route(spec["route"], prefix)
    if enforce:
        top["matchers"] = [*top.get("matchers", []), ns_matcher]
    top["continue"] = True
    config["route"]["routes"] = [top, *config["route"].get("routes", [])]
    config["receivers"] = [*config["receivers"],
                           *(_receiver(r, prefix, secrets) for r in spec["receivers"])]  # fmt: skip
    return config
