"""Rewrite the vendored defaults of kube-prometheus-stack (see README.md).

    python tests/kubernetes/chart/extract.py PATH/TO/charts/kube-prometheus-stack/values.yaml

Writes ``defaults.json`` beside this file: the subtrees of the chart's default
values that decide what our values file renders (KEPT), comments dropped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
KEPT = (
    ("alertmanager", "config"),
    ("alertmanager", "alertmanagerSpec", "alertmanagerConfigMatcherStrategy"),
    ("alertmanager", "alertmanagerSpec", "alertmanagerConfigSelector"),
    ("alertmanager", "alertmanagerSpec", "alertmanagerConfigNamespaceSelector"),
    ("alertmanager", "alertmanagerSpec", "image"),
    ("grafana", "sidecar", "datasources"),
    ("prometheus", "prometheusSpec", "retention"),
    ("prometheus", "prometheusSpec", "retentionSize"),
    ("prometheus", "prometheusSpec", "storageSpec"),
)


def main(path: str) -> None:
    values = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    out: dict[str, Any] = {}
    for keys in KEPT:
        source, target = values, out
        for key in keys[:-1]:
            source, target = source[key], target.setdefault(key, {})
        target[keys[-1]] = source[keys[-1]]
    (HERE / "defaults.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print("wrote defaults.json")


if __name__ == "__main__":
    main(sys.argv[1])
