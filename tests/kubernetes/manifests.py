"""Load and validate the Kubernetes manifests offline: no cluster, no network.

Core kinds are checked by ``kubernetes-validate`` (the API's own OpenAPI schemas,
strict: unknown fields fail); the Prometheus Operator's kinds by the
``openAPIV3Schema`` of their CRDs vendored in ``crds/`` (README.md there), made
strict the same way.
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
BASE = DEPLOY / "base"
KIND_OVERLAY = DEPLOY / "overlays" / "kind"
CRDS = Path(__file__).parent / "crds"
# Oldest Kubernetes release the docs promise (kind's and kubectl 1.32's era).
KUBERNETES_VERSION = "1.32.0"
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "ServiceMonitor-v1.json",
    ("monitoring.coreos.com/v1", "Probe"): "Probe-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "PrometheusRule-v1.json",
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"): "AlertmanagerConfig-v1alpha1.json",
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet")


def resource_files(kustomization_dir: Path) -> Iterator[Path]:
    """The YAML files a kustomization lists, following directories (no build)."""
    spec = yaml.safe_load((kustomization_dir / "kustomization.yaml").read_text())
    for entry in spec.get("resources", []):
        path = (kustomization_dir / entry).resolve()
        if path.is_dir():
            yield from resource_files(path)
        else:
            yield path


class _Loader(yaml.SafeLoader):
    """kubectl writes a matcher's ``matchType: =`` bare; PyYAML reads it as the !!value tag."""


_Loader.add_constructor(
    "tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node)
)


def load_docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.load_all(text, Loader=_Loader) if d]


def raw_resources(kustomization_dir: Path = BASE) -> list[dict[str, Any]]:
    """Every resource of the base as written (patches and namespace not applied)."""
    return [d for f in resource_files(kustomization_dir) for d in load_docs(f.read_text())]


def kubectl() -> str | None:
    return shutil.which("kubectl")


def build(kustomization_dir: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize DIR``: the resources as a cluster would receive them."""
    exe = kubectl()
    assert exe is not None
    proc = subprocess.run([exe, "kustomize", str(kustomization_dir)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return load_docs(proc.stdout)


def _strict(schema: Any) -> Any:
    # The API server prunes (and with field validation, rejects) unknown fields;
    # JSON Schema allows them unless told: forbid them where the CRD lists properties.
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.cache
def crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    schema = json.loads((CRDS / CRD_KINDS[(api_version, kind)]).read_text())
    schema = _strict(schema)
    # metadata is the API's ObjectMeta, not described in CRD schemas
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def _nested_route_errors(
    validator: jsonschema.protocols.Validator, resource: dict[str, Any]
) -> list[jsonschema.ValidationError]:
    # The CRD leaves child routes free-form (preserve-unknown-fields); the operator
    # reads them as routes: check each against the top route's schema.
    route_schema = validator.schema["properties"]["spec"]["properties"]["route"]
    child = jsonschema.Draft7Validator(route_schema)
    pending = list(resource.get("spec", {}).get("route", {}).get("routes", []))
    errors = []
    while pending:
        route = pending.pop()
        errors += list(child.iter_errors(route))
        pending += route.get("routes", []) if isinstance(route, dict) else []
    return errors


def validate(resource: dict[str, Any]) -> list[str]:
    """Problems with one resource (empty when valid)."""
    key = (resource.get("apiVersion", ""), resource.get("kind", ""))
    name = f"{key[1]}/{resource.get('metadata', {}).get('name')}"
    if key in CRD_KINDS:
        validator = crd_validator(*key)
        errors = list(validator.iter_errors(resource))
        if key[1] == "AlertmanagerConfig":
            errors += _nested_route_errors(validator, resource)
        return [f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    try:
        kubernetes_validate.validate(copy.deepcopy(resource), KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{name}: {'/'.join(map(str, exc.path))}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{name}: no schema ({exc})"]
    return []


def workloads(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] in WORKLOAD_KINDS}


def of_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}
