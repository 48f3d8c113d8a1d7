"""The deployment gate: exit codes and reasons, filters, policy files."""

from __future__ import annotations

import pytest

from slolab.cli import main
from slolab.slo import conventions as c
from slolab.slo.selection import select
from tests.slo.test_status import recorded

OK = {
    ("tasks-availability", c.RULE_ERROR_RATIO_PERIOD): 0.0002,
    ("tasks-availability", c.RULE_BUDGET_REMAINING): 0.8,
    ("tasks-latency", c.RULE_ERROR_RATIO_PERIOD): 0.01,
    ("tasks-latency", c.RULE_BUDGET_REMAINING): 0.8,
    ("model-freshness", c.RULE_ERROR_RATIO_PERIOD): 0.03,
    ("model-freshness", c.RULE_BUDGET_REMAINING): -2.0,  # predictor's budget is spent
}


def _gate(fake_prom, slos_file, *extra: str) -> int:
    argv = ["slo", "gate", "--file", str(slos_file), "--prometheus", fake_prom.url, *extra]
    return main(argv)


@pytest.mark.parametrize(
    ("service", "code", "verdict", "reason"),
    [
        pytest.param(
            "tasks", 0,
            "deploy allowed: no policy freezes deploys (2 SLOs checked)",
            "tasks-availability: ok (80.0% budget left)",
            id="open-within-budget",
        ),
        pytest.param(
            "predictor", 1,
            "deploy blocked: deployment freeze by model-freshness",
            "freeze: error budget exhausted (-200.0% left): freeze feature deployments",
            id="closed-names-the-slo-and-reason",
        ),
    ],
)  # fmt: skip
def test_gate_for_one_service(
    fake_prom, toolkit_slos_file, capsys, service: str, code: int, verdict: str, reason: str
) -> None:
    fake_prom.route = recorded(OK)
    assert _gate(fake_prom, toolkit_slos_file, "--service", service) == code
    out = capsys.readouterr().out
    assert out.startswith(verdict)
    assert reason in out


def test_gate_without_filters_checks_everything(fake_prom, toolkit_slos_file, capsys) -> None:
    fake_prom.route = recorded(OK)
    assert _gate(fake_prom, toolkit_slos_file) == 1
    assert _gate(fake_prom, toolkit_slos_file, "--slo", "tasks-latency") == 0


def test_gate_fast_burn_freezes_with_budget_left(fake_prom, toolkit_slos_file, capsys) -> None:
    burning = dict(OK)
    burning[("tasks-availability", "slo:sli_error:ratio_rate5m")] = 0.5
    burning[("tasks-availability", "slo:sli_error:ratio_rate1h")] = 0.1
    fake_prom.route = recorded(burning)
    assert _gate(fake_prom, toolkit_slos_file, "--slo", "tasks-availability") == 1
    assert "burning 100.0x over 1h and 500.0x over 5m" in capsys.readouterr().out


def test_gate_policy_file_can_relax_a_slo(fake_prom, toolkit_slos_file, tmp_path, capsys) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text(
        "slos:\n  model-freshness:\n    - {action: notify, when: {budget_remaining_at_most: 0}}\n"
    )
    fake_prom.route = recorded(OK)
    assert _gate(fake_prom, toolkit_slos_file, "--policies", str(policies)) == 0
    assert "model-freshness: notify" in capsys.readouterr().out


def test_gate_policy_file_from_environment(fake_prom, toolkit_slos_file, tmp_path, monkeypatch):
    policies = tmp_path / "p.yaml"
    policies.write_text("default: [{action: freeze, when: {budget_remaining_at_most: 0.9}}]\n")
    monkeypatch.setenv("SLOLAB_SLO_POLICIES", str(policies))
    fake_prom.route = recorded(OK)
    assert _gate(fake_prom, toolkit_slos_file, "--service", "tasks") == 1


def test_gate_errors_exit_2(fake_prom, toolkit_slos_file, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("default: [{action: explode}]\n")
    assert _gate(fake_prom, toolkit_slos_file, "--policies", str(bad)) == 2
    assert "default.0.action" in capsys.readouterr().err
    assert _gate(fake_prom, toolkit_slos_file, "--service", "nope") == 2
    assert "service: no SLOs for nope" in capsys.readouterr().err
    fake_prom.route = lambda path, params: (500, "boom")
    assert _gate(fake_prom, toolkit_slos_file) == 2
    assert "HTTP 500" in capsys.readouterr().err


def test_select(toolkit_slos) -> None:
    names = lambda slos: [s.name for s in slos]  # noqa: E731
    assert len(select(toolkit_slos)) == 3
    assert names(select(toolkit_slos, services=["predictor"])) == ["model-freshness"]
    assert names(select(toolkit_slos, services=["predictor"], names=["tasks-latency"])) == [
        "tasks-latency",
        "model-freshness",
    ]
    with pytest.raises(ValueError, match="slo: unknown x"):
        select(toolkit_slos, names=["x"])
