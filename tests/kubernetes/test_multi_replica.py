"""Several pods per service: the SLO rules as the cluster runs them (PrometheusRule).

The promtool cases in promtool/ run against the groups extracted from the
generated PrometheusRule of tasks, not the rule file beside it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.kubernetes.manifests import BASE, load_docs

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

PROMTOOL_CASES = sorted((Path(__file__).parent / "promtool").glob("*.yml"))
promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(promtool is None, reason="promtool not installed")


def _extract(resource_file: Path, dest: Path) -> Path:
    (rule,) = load_docs(resource_file.read_text())
    assert rule["kind"] == "PrometheusRule"
    dest.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return dest


@needs_promtool
@pytest.mark.parametrize("case", PROMTOOL_CASES, ids=lambda p: p.stem)
def test_slo_rules_aggregate_pods_and_survive_restarts(case: Path, tmp_path: Path):
    _extract(BASE / "generated" / "prometheusrule-slo-tasks.yaml", tmp_path / "rules.yml")
    shutil.copy(case, tmp_path / case.name)
    proc = subprocess.run([promtool, "test", "rules", case.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
