"""Burn-rate alert policies and the Alertmanager configuration."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

import slolab.slo as slo_pkg
from slolab.slo import conventions as c
from slolab.slo.generate import GenerateOptions
from slolab.slo.generate.alertmanager import config, render
from slolab.slo.generate.alerts import alert_rules, dropped_notes
from slolab.slo.promql import alert_expr

ROOT = Path(__file__).resolve().parents[2]
SLOS = {s.name: s for s in slo_pkg.load(ROOT / "slos.yaml")}


def _h(hours: float) -> timedelta:
    return timedelta(hours=hours)


def _m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def test_workbook_thresholds_for_a_30_day_slo():
    page, ticket = SLOS["tasks-availability"].alert_policies
    assert (page.alert, page.severity) == (c.ALERT_PAGE, "critical")
    assert [(x.long, x.short, x.factor) for x in page.conditions] == [
        (_h(1), _m(5), 14.4), (_h(6), _m(30), 6)]  # fmt: skip
    assert [(x.long, x.short, x.factor) for x in ticket.conditions] == [
        (_h(24), _h(2), 3), (_h(72), _h(6), 1)]  # fmt: skip
    expr = alert_expr(SLOS["tasks-availability"], page)
    assert (
        'slo:sli_error:ratio_rate5m{slo="tasks-availability",service="tasks"} / 0.001 > 14.4'
        in expr
    )


def test_windows_scale_for_a_one_day_slo():
    page, ticket = SLOS["tasks-error-rate"].alert_policies
    assert [(x.long, x.short) for x in page.conditions] == [(_m(2), _m(1)), (_m(12), _m(1))]
    assert [(x.long, x.short) for x in ticket.conditions] == [(_m(48), _m(4)), (_m(144), _m(12))]


def test_a_condition_that_cannot_fire_is_dropped_and_reported():
    accuracy = SLOS["predictor-accuracy"]  # 85%: 14.4 x 15% = 216% > 100%
    page, ticket = accuracy.alert_policies
    assert [x.factor for x in page.conditions] == [6]
    assert [d.factor for d in page.dropped] == [14.4]
    assert len(ticket.conditions) == 2
    for policy in accuracy.alert_policies:
        for cond in policy.conditions:  # every emitted threshold is reachable
            assert cond.factor * accuracy.error_budget < 1
    assert dropped_notes(accuracy) == [
        "predictor-accuracy: SLOErrorBudgetBurnPage without 14.4x over 2m/1m: 14.4x burn needs "
        "an error ratio of 216% with 15% budget (at most 6.67x is possible)"
    ]
    page_rule = alert_rules(accuracy)[0]
    assert "> 14.4" not in page_rule["expr"] and "> 6" in page_rule["expr"]
    text = (ROOT / "prometheus/rules/slo-predictor.yml").read_text()
    assert "# predictor-accuracy: SLOErrorBudgetBurnPage without 14.4x" in text


def test_no_emitted_alert_anywhere_is_impossible():
    for slo in SLOS.values():
        for policy in slo.alert_policies:
            assert policy.conditions, slo.name
            assert all(x.factor * slo.error_budget < 1 for x in policy.conditions), slo.name


def test_alertmanager_routes_group_and_inhibit():
    prod = config(GenerateOptions(), production=True)
    route = prod["route"]
    assert route["receiver"] == "webhook"
    assert route["group_by"] == ["alertname", "slo", "service"]
    routes = {r["receiver"]: r for r in route["routes"]}
    assert routes["pagerduty"]["matchers"] == ['severity="critical"']
    assert routes["slack"]["matchers"] == ['severity="warning"']
    assert routes["pagerduty"]["continue"] and routes["slack"]["continue"]
    assert route["routes"][-1] == {"receiver": "webhook"}  # everything reaches the webhook
    (inhibit,) = prod["inhibit_rules"]
    assert inhibit["equal"] == ["slo"]
    assert 'severity="critical"' in inhibit["source_matchers"]
    assert 'severity="warning"' in inhibit["target_matchers"]
    receivers = {r["name"]: r for r in prod["receivers"]}
    assert receivers["pagerduty"]["pagerduty_configs"][0]["routing_key_file"].endswith(
        "pagerduty-routing-key")  # fmt: skip
    assert "api_url_file" in receivers["slack"]["slack_configs"][0]
    local = config(GenerateOptions(webhook_url="http://127.0.0.1:9/x"), production=False)
    assert [r["name"] for r in local["receivers"]] == ["webhook"]
    assert local["receivers"][0]["webhook_configs"][0]["url"] == "http://127.0.0.1:9/x"
    assert "routes" not in local["route"]


def test_no_secret_in_the_committed_config():
    text = (ROOT / "alertmanager/alertmanager.yml").read_text()
    assert "routing_key:" not in text and "api_url:" not in text and "hooks.slack.com" not in text


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not installed")
def test_amtool_check_config(tmp_path: Path):
    files = render([], GenerateOptions())
    for rel, text in files.items():
        path = tmp_path / Path(rel).name
        path.write_text(text)
        assert yaml.safe_load(text)["route"]
        proc = subprocess.run(["amtool", "check-config", str(path)], capture_output=True,
                              text=True, timeout=30)  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
    committed = [str(ROOT / "alertmanager" / Path(rel).name) for rel in files]
    proc = subprocess.run(["amtool", "check-config", *committed], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
