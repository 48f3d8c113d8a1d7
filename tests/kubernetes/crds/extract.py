"""Rewrite the vendored CRD schemas from prometheus-operator's CRD files (see README.md).

    python tests/kubernetes/crds/extract.py PATH/TO/monitoring.coreos.com_*.yaml

Writes ``<kind>-<version>.json`` beside this file: each served version's
``openAPIV3Schema``, descriptions dropped (they are most of the bytes). Of the
Prometheus and Alertmanager kinds (written by the Helm chart from our values, not
by us) only the ``spec`` fields our values set are kept: ``<kind>-<version>-spec.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
# kind -> the spec properties kept (the whole schemas are megabytes)
PARTIAL = {
    "Prometheus": ("retention", "retentionSize", "storage"),
    "Alertmanager": ("alertmanagerConfigMatcherStrategy",),
}


class _Loader(yaml.SafeLoader):
    """PyYAML reads a bare ``=`` (a matchType enum value) as the obsolete !!value tag."""


_Loader.add_constructor(
    "tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node)
)


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        # a description annotation is a string; a property named description is a schema
        return {
            k: _strip(v) for k, v in node.items() if not (k == "description" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def main(paths: list[str]) -> None:
    for path in paths:
        crd = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_Loader)
        kind = crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served"):
                continue
            schema = _strip(version["schema"]["openAPIV3Schema"])
            out = HERE / f"{kind}-{version['name']}.json"
            if kind in PARTIAL:
                spec = schema["properties"]["spec"]["properties"]
                schema = {"type": "object", "properties": {k: spec[k] for k in PARTIAL[kind]}}
                out = HERE / f"{kind}-{version['name']}-spec.json"
            out.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            print(f"wrote {out.name}")


if __name__ == "__main__":
    main(sys.argv[1:])
