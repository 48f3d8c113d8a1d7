"""Error-budget policies: the default thresholds, burn rules and the policy file."""

from __future__ import annotations

from dataclasses import replace

import pytest

from slolab.slo.policy import (
    DEFAULT_POLICY,
    PERIOD,
    WINDOWS,
    Action,
    Facts,
    Policy,
    PolicyError,
    Rule,
    load_policies,
    parse_policies,
)


def test_windows_are_the_alert_windows_named_for_30_days() -> None:
    assert WINDOWS == ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


@pytest.mark.parametrize(
    ("left", "action"),
    [
        (1.0, Action.NONE),
        (0.51, Action.NONE),
        (0.5, Action.NOTIFY),
        (0.3, Action.NOTIFY),
        (0.25, Action.REVIEW),
        (0.01, Action.REVIEW),
        (0.0, Action.FREEZE),
        (-4.0, Action.FREEZE),
        (None, Action.NONE),  # no data decides nothing
    ],
)
def test_default_budget_thresholds(left, action) -> None:
    decision = DEFAULT_POLICY.evaluate(Facts(left))
    assert decision.action == action
    assert decision.freezes_deploys == (action == Action.FREEZE)


def test_reasons_strongest_first_and_name_the_numbers() -> None:
    decision = DEFAULT_POLICY.evaluate(Facts(-0.5))
    assert (
        decision.reasons[0]
        == "freeze: error budget exhausted (-50.0% left): freeze feature deployments"
    )
    assert [r.split(":")[0] for r in decision.reasons] == ["freeze", "review", "notify"]


@pytest.mark.parametrize(
    ("rates", "freeze"),
    [
        ({"1h": 15.0, "5m": 20.0}, True),
        ({"1h": 14.4, "5m": 14.4}, True),
        ({"1h": 15.0, "5m": 2.0}, False),  # recovered: the short window resets it
        ({"1h": 3.0, "5m": 50.0}, False),  # a spike, not yet a burn
        ({"1h": 15.0}, False),  # no data for 5m
    ],
)
def test_default_fast_burn_freeze_needs_both_windows(rates, freeze) -> None:
    decision = DEFAULT_POLICY.evaluate(Facts(0.9, rates))
    assert decision.freezes_deploys is freeze
    if freeze:
        assert "burning" in decision.reasons[0] and "over 1h" in decision.reasons[0]


POLICY_FILE = """
version: 1
default:
  - action: notify
    when: {budget_remaining_at_most: 0.8}
  - action: freeze
    when: {burn_rate_at_least: 2, windows: [period]}
    message: over budget pace
slos:
  special:
    - action: review
      when: {budget_remaining_at_most: 0}
"""


def test_policy_file_default_and_per_slo(tmp_path) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(POLICY_FILE)
    policies = load_policies(path)
    other = policies.for_slo("anything")
    assert other.evaluate(Facts(0.7)).action == Action.NOTIFY
    burning = other.evaluate(Facts(0.9, {PERIOD: 2.5}))
    assert burning.action == Action.FREEZE
    assert burning.reasons == ("freeze: burning 2.5x over period (>= 2x): over budget pace",)
    special = policies.for_slo("special")
    assert special.evaluate(Facts(-1.0)).action == Action.REVIEW  # never freezes
    assert special.evaluate(Facts(0.7)).action == Action.NONE


def test_no_file_is_the_default_policy() -> None:
    assert load_policies(None).for_slo("x") is DEFAULT_POLICY
    assert parse_policies("version: 1\n").for_slo("x") is DEFAULT_POLICY


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("default: [{action: explode, when: {budget_remaining_at_most: 0}}]", "default.0.action"),
        ("default: [{action: notify, when: {}}]", "exactly one of"),
        ("default: [{action: notify, when: {burn_rate_at_least: 2}}]", "needs windows"),
        (
            "default: [{action: notify, when: {burn_rate_at_least: 2, windows: [2w]}}]",
            "'2w' is not one of",
        ),
        (
            "default: [{action: notify, when: {budget_remaining_at_most: 0, windows: [1h]}}]",
            "windows only",
        ),
        ("surprise: 1", "surprise: Extra inputs"),
        ("default: [", "invalid YAML"),
    ],
)
def test_bad_policy_file_names_the_field(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=r"^pol\.yaml: ") as info:
        parse_policies(text, source="pol.yaml")
    assert message in str(info.value)


def test_unreadable_policy_file(tmp_path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policies(tmp_path / "missing.yaml")


def test_rules_on_the_period_wait_for_its_coverage_as_the_budget_alerts_do() -> None:
    # Ten minutes of a fresh history: one failed probe "spent" the whole budget.
    fresh = Facts(-3.0, {"1h": 2.0, "5m": 2.0, PERIOD: 4.0}, coverage=10 * 60 / (30 * 86400))
    decision = DEFAULT_POLICY.evaluate(fresh)
    assert decision.action == Action.NONE and not decision.freezes_deploys
    assert decision.reasons[0].startswith("freeze held: error budget exhausted (-300.0% left)")
    assert "cover 0.0% of the period (policy min_coverage 10%)" in decision.reasons[-1]
    # A fast burn on short windows is not held: it does not read the period.
    burning = DEFAULT_POLICY.evaluate(replace(fresh, burn_rates={"1h": 20.0, "5m": 20.0}))
    assert burning.freezes_deploys
    assert burning.reasons[0].startswith("freeze: burning 20.0x over 1h")
    assert any(r.startswith("freeze held: error budget exhausted") for r in burning.reasons)
    # Enough history, or none known: the budget decides.
    for coverage in (0.1, 0.5, None):
        assert DEFAULT_POLICY.evaluate(replace(fresh, coverage=coverage)).freezes_deploys


def test_a_period_burn_rule_waits_too() -> None:
    policy = Policy("p", (Rule(Action.REVIEW, burn_rate_at_least=2, windows=(PERIOD,)),), 0.2)
    assert policy.evaluate(Facts(0.9, {PERIOD: 3.0}, coverage=0.19)).action == Action.NONE
    assert policy.evaluate(Facts(0.9, {PERIOD: 3.0}, coverage=0.2)).action == Action.REVIEW
