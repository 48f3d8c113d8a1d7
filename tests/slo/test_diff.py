"""``slolab slo diff``: SLO, rule and file changes, and the budget on real (backfilled) data."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import pytest

from slolab.cli import main
from slolab.slo import diff as d
from slolab.slo.generate.kubernetes import GENERATED_DIR
from slolab.slo.query import Prometheus
from slolab.slo.spec import SpecError
from tests.slo.backfill import backfilled_prometheus, counter, needs_prometheus
from tests.slo.conftest import TOOLKIT_SLOS

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
E = END.timestamp()
H = 3600.0

NEW = (
    TOOLKIT_SLOS.replace("objective: 99.9", "objective: 99")  # tasks-availability looser
    .replace("owner: ml-team", "owner: data-team")  # paper change only
    .replace("threshold_seconds: 0.5", "threshold_seconds: 1.0")
)


@pytest.fixture
def files(tmp_path):
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(TOOLKIT_SLOS)
    new.write_text(NEW)
    return old, new


def test_changes_by_slo_rule_and_file(files):
    old, new = files
    result = d.compare(d.read_version(str(old)), d.read_version(str(new)))
    assert [(s.name, s.change, s.fields, s.measured) for s in result.slos] == [
        ("tasks-availability", "changed", ("objective",), True),
        ("tasks-latency", "changed", ("sli.latency.threshold_seconds",), True),
        ("model-freshness", "changed", ("owner",), False),
    ]
    changed = {(r.kind, r.name, r.slo) for r in result.rules if r.change == "changed"}
    assert ("alert", "SLOErrorBudgetBurnPage", "tasks-availability") in changed
    assert ("record", "slo:sli_error:ratio_rate5m", "tasks-latency") in changed  # new bucket
    assert not any(r.slo == "model-freshness" for r in result.rules)
    page = next(r for r in result.rules if r.name == "SLOErrorBudgetBurnPage"
                and r.slo == "tasks-availability")  # fmt: skip
    assert "/ 0.001 > 14.4" in page.old_expr and "/ 0.01 > 14.4" in page.new_expr
    text = d.to_markdown(result)
    assert "| tasks-availability | changed | `objective` |" in text
    assert '-  slo:sli_error:ratio_rate5m{slo="tasks-availability",service="tasks"} / 0.001' in text
    assert "no Prometheus given" in text
    same = d.compare(d.read_version(str(old)), d.read_version(str(old)))
    assert same.empty and "No change" in d.to_markdown(same)


def test_added_and_removed_slos_and_alert_rules(tmp_path):
    text = TOOLKIT_SLOS
    cut = text.index("  - name: model-freshness")
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(text)
    new.write_text(text[:cut])
    result = d.compare(d.read_version(str(old)), d.read_version(str(new)))
    assert [(s.name, s.change) for s in result.slos] == [("model-freshness", "removed")]
    removed = {(r.kind, r.name) for r in result.rules if r.change == "removed"}
    assert ("alert", "SLOErrorBudgetBurnPage") in removed
    # The rules are compared rule by rule (above); the files list what else a
    # deploy applies: the predictor's PrometheusRule goes, the kustomization drops
    # it, and (with a registry that has dashboards, as the CLI's) its dashboards go.
    kustomization = f"{GENERATED_DIR}/kustomization.yaml"
    predictor_rules = f"{GENERATED_DIR}/prometheusrule-slo-predictor.yaml"

    def files(diff: d.SpecDiff, gone: str) -> None:
        changes = {f.path: f.change for f in diff.files}
        assert changes.pop(kustomization) == "changed"
        assert changes.pop(predictor_rules) == gone
        assert all(ch == gone and "predictor" in path for path, ch in changes.items()), changes

    files(result, "removed")
    assert f"`{predictor_rules}` (removed)" in d.to_markdown(result)
    back = d.compare(d.read_version(str(new)), d.read_version(str(old)))
    assert [(s.name, s.change) for s in back.slos] == [("model-freshness", "added")]
    files(back, "added")


def test_git_revision_and_errors(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    (repo / "slos.yaml").write_text(TOOLKIT_SLOS)
    subprocess.run([*git, "add", "slos.yaml"], check=True)
    subprocess.run([*git, "commit", "-qm", "slos"], check=True)
    (repo / "slos.yaml").write_text(NEW)
    version = d.read_version("HEAD:slos.yaml", cwd=repo)
    assert version.label == "HEAD:slos.yaml" and len(version.slos) == 3
    with pytest.raises(SpecError, match="git show failed"):
        d.read_version("nope:slos.yaml", cwd=repo)
    with pytest.raises(SpecError, match="no such file"):
        d.read_version(str(tmp_path / "missing.yaml"))


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    ok = 'flask_http_request_duration_seconds_count{job="tasks",path="/api/tasks",status="200"}'
    bad = 'flask_http_request_duration_seconds_count{job="tasks",path="/api/tasks",status="500"}'
    outage = lambda t: E - 3 * H <= t < E - 2.5 * H  # noqa: E731
    history = {
        ok: counter(E - 6 * H, E, 15.0, lambda t: 0.0 if outage(t) else 2.0),
        bad: counter(E - 6 * H, E, 15.0, lambda t: 2.0 if outage(t) else 0.0),
    }
    with backfilled_prometheus(tmp_path_factory.mktemp("diff"), history) as url:
        yield url


@needs_prometheus
@pytest.mark.slow
def test_budget_before_and_after_on_real_data(prometheus, files, capsys):
    old, new = files
    result = d.compare(d.read_version(str(old)), d.read_version(str(new)))
    with Prometheus(prometheus) as prom:
        result = d.budgets(prom, result, END)
    rows = {b.name: b for b in result.budgets}
    assert set(rows) == {"tasks-availability", "tasks-latency"}  # owner change: no row
    row = rows["tasks-availability"]
    # half an hour of 5xx in the six hours Prometheus holds: SLI 11/12
    assert row.old_sli == pytest.approx(11 / 12, rel=1e-3) and row.new_sli == row.old_sli
    assert row.old_remaining == pytest.approx(1 - (1 / 12) / 0.001, rel=1e-3)
    assert row.new_remaining == pytest.approx(1 - (1 / 12) / 0.01, rel=1e-3)
    argv = ["slo", "diff", str(old), str(new), "--prometheus", prometheus, "--end",
            END.isoformat(), "--exit-code"]  # fmt: skip
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "| tasks-availability | 30d | 91.667% | 99.90% | -8233.3% | 91.667% | 99.00% |" in out
