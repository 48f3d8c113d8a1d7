"""Generated Grafana dashboards: current, valid PromQL, contract metrics only."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import promql_parser
import pytest
import yaml

from slolab.dashboards import DASHBOARD_DIR, PROMETHEUS_UID, build, panel_queries, render
from slolab.dashboards.slo import OVERVIEW_QUERIES
from slolab.slo import conventions as c
from slolab.slo.durations import format_duration
from slolab.slo.model import load

ROOT = Path(__file__).resolve().parents[2]
SLOS = load(ROOT / "slos.yaml")

# Series the dashboards may read: docs/architecture.md, plus Prometheus' own.
CONTRACT = {
    "flask_http_request_total", "flask_http_request_duration_seconds_bucket",
    "flask_http_request_duration_seconds_count", "create_task_total", "delete_task_total",
    "tasks_predictor_degraded_total", "tasks_store_unavailable_total",
    "tasks_feedback_degraded_total", "slolab_fault_active", "http_requests_total",
    "http_request_duration_seconds_bucket", "http_request_duration_seconds_count",
    "predictor_predictions_total", "predictor_feedback_total",
    "predictor_feedback_correct_total", "model_last_trained_timestamp_seconds", "model_info",
    "probe_success", "up", "ALERTS", "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    # cAdvisor's, under compose (what prometheus.yml keeps of them)
    "container_memory_working_set_bytes", "container_spec_memory_limit_bytes",
    # the histograms' _sum (average latency panels)
    "flask_http_request_duration_seconds_sum", "http_request_duration_seconds_sum",
    c.RULE_ERROR_RATIO_PERIOD, c.RULE_OBJECTIVE, c.RULE_CURRENT_BURN_RATE,
    c.RULE_PERIOD_BURN_RATE, c.RULE_BUDGET_REMAINING, c.RULE_PERIOD_COVERAGE,
}  # fmt: skip


def _live(expr: str) -> str:
    return expr.replace("$__rate_interval", "1m").replace("$__range", "1h")


def test_committed_dashboards_are_current() -> None:
    for rel, text in render(SLOS).items():
        path = ROOT / rel
        assert path.is_file() and path.read_text() == text, f"{rel} is stale: slolab slo generate"


def test_rendering_is_deterministic() -> None:
    assert render(SLOS) == render(SLOS)


def test_every_panel_query_parses() -> None:
    queries = list(panel_queries())
    assert len(queries) > 50
    bad = []
    for board, panel, expr in queries:
        try:
            promql_parser.parse(_live(expr))
        except ValueError as exc:
            bad.append(f"{board} / {panel}: {exc}: {expr}")
    assert not bad, "\n".join(bad)


def test_queries_use_only_contract_metrics() -> None:
    names = set()
    for _, _, expr in panel_queries():
        # metric names: identifiers followed by { or [ or end, not functions/keywords
        names |= set(re.findall(r"([A-Za-z_:][\w:]*)\s*\{", expr))
    recorded = {n for n in names if n.startswith(c.RULE_ERROR_RATIO_PREFIX)}
    unknown = names - CONTRACT - recorded
    assert not unknown, unknown
    windows = {format_duration(w) for slo in SLOS for w in slo.windows}
    assert {n.removeprefix(c.RULE_ERROR_RATIO_PREFIX) for n in recorded} <= windows


def test_panel_titles_unique_and_datasource_fixed() -> None:
    for name, board in build(SLOS).items():
        doc = json.loads((ROOT / DASHBOARD_DIR / name).read_text())
        panels = [p for p in doc["panels"] if p["type"] != "row"]
        titles = [p["title"] for p in panels]
        assert len(titles) == len(set(titles)), name
        ids = [p["id"] for p in doc["panels"]]
        assert len(ids) == len(set(ids)) and 0 not in ids
        for p in panels:
            assert p["datasource"]["uid"] == PROMETHEUS_UID
            for t in p["targets"]:
                assert t["datasource"]["uid"] == PROMETHEUS_UID
        assert any("slolab_fault_active" in a.get("expr", "") for a in doc["annotations"]["list"])
        assert board.uid and doc["uid"] == board.uid


def test_latency_panels_ask_for_exemplars() -> None:
    for name in ("slolab-tasks.json", "slolab-predictor.json"):
        doc = json.loads((ROOT / DASHBOARD_DIR / name).read_text())
        # the mean (sum / count) has no exemplars to show: they sit on the buckets
        latency = [p for p in doc["panels"] if "atency" in p.get("title", "")
                   and p["title"] != "Average latency"]  # fmt: skip
        assert latency
        for p in latency:
            assert all(t.get("exemplar") for t in p["targets"]), p["title"]


def test_slo_dashboard_is_an_overview_then_a_row_repeated_per_slo() -> None:
    doc = json.loads((ROOT / DASHBOARD_DIR / "slolab-slos.json").read_text())
    names = [v["name"] for v in doc["templating"]["list"]]
    assert names == [c.LABEL_SERVICE, c.LABEL_SLO]
    first, row, *rest = doc["panels"]
    assert first["type"] == "table" and len(first["targets"]) == len(OVERVIEW_QUERIES)
    assert row["type"] == "row" and row["repeat"] == c.LABEL_SLO
    # The panel count no longer grows with the SLO file (it was 14 per SLO).
    assert len(doc["panels"]) < 15
    titles = {p["title"] for p in rest}
    for part in ("SLI over the period", "status", "budget remaining", "burn rate now",
                 "history covered", "alerts firing", "burn rate per alert window"):  # fmt: skip
        assert part in titles, part
    for p in rest:
        for t in p["targets"]:
            assert '"$slo"' in t["expr"], (p["title"], t["expr"])


def test_no_panel_asks_the_same_query_twice() -> None:
    for name in ("slolab-tasks.json", "slolab-predictor.json"):
        doc = json.loads((ROOT / DASHBOARD_DIR / name).read_text())
        for p in doc["panels"]:
            exprs = [t["expr"] for t in p.get("targets", [])]
            assert len(exprs) == len(set(exprs)), (name, p["title"])


def test_both_services_show_a_probe_mean_latency_and_traces() -> None:
    for name, job in (("slolab-tasks.json", "tasks"), ("slolab-predictor.json", "predictor")):
        doc = json.loads((ROOT / DASHBOARD_DIR / name).read_text())
        exprs = {p["title"]: [t["expr"] for t in p.get("targets", [])] for p in doc["panels"]}
        assert any(f'probe_success{{job="blackbox-{job}"}}' in e for e in exprs["Uptime"])
        assert "_sum{" in exprs["Average latency"][0] and "_count{" in exprs["Average latency"][0]
        assert "otelcol_receiver_accepted_spans" in exprs["Traces received by Jaeger"][0]


def test_cadvisor_panels_say_when_cadvisor_sends_nothing() -> None:
    """No cAdvisor (lab, Kubernetes) or one that sees no containers: a sentence, not a blank."""
    import yaml

    scrape = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    (cadvisor,) = [j for j in scrape["scrape_configs"] if j["job_name"] == "cadvisor"]
    (keep,) = [r["regex"] for r in cadvisor["metric_relabel_configs"] if r["action"] == "keep"]
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, job in (("slolab-tasks.json", "tasks"), ("slolab-predictor.json", "predictor")):
        doc = json.loads((ROOT / DASHBOARD_DIR / name).read_text())
        panels = [p for p in doc["panels"]
                  if any('job="cadvisor"' in t["expr"] for t in p.get("targets", []))]  # fmt: skip
        assert panels, name
        assert job in services  # compose names the container <project>-<job>-<n>
        for panel in panels:
            assert "No data from cAdvisor" in panel["fieldConfig"]["defaults"]["noValue"]
            for target in panel["targets"]:
                metric = re.match(r"(\w+)\{", target["expr"])[1]  # type: ignore[index]
                assert re.fullmatch(keep, metric), f"prometheus.yml drops {metric}"
                assert f'name=~".+-{job}-[0-9]+"' in target["expr"]


def test_slo_dashboard_shows_each_period_of_an_slo_with_several() -> None:
    """`periods: [7d, 1d]`: a table row and a graph line per period; stats on the first."""
    board = json.loads(render(load(ROOT / "tests/slo/golden/in-windows.yaml"))[
        f"{DASHBOARD_DIR}/slolab-slos.json"])  # fmt: skip
    overview, _row, *rest = board["panels"]
    assert all(f"by (service, slo, {c.LABEL_WINDOW})" in t["expr"] for t in overview["targets"])
    period_rules = (c.RULE_ERROR_RATIO_PERIOD, c.RULE_BUDGET_REMAINING, c.RULE_PERIOD_BURN_RATE,
                    c.RULE_PERIOD_COVERAGE)  # fmt: skip
    for p in rest:
        for t in p["targets"]:
            promql_parser.parse(_live(t["expr"]))
            # every reader of a period figure says which period it wants
            for rule in period_rules:
                for m in re.finditer(re.escape(rule) + r"\{([^}]*)\}", t["expr"]):
                    assert f'{c.LABEL_WINDOW}="' in m[1] or f'{c.LABEL_WINDOW}!="' in m[1], t
    budget = next(p for p in rest if p["title"] == "error budget remaining")
    assert [t["legendFormat"] for t in budget["targets"]] == ["budget", "budget {{slo_window}}"]
    # an SLO file without several periods: no slo_window anywhere
    shipped = (ROOT / DASHBOARD_DIR / "slolab-slos.json").read_text()
    assert c.LABEL_WINDOW not in shipped


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_windowed_overview_queries_give_a_row_per_period(tmp_path: Path) -> None:
    """The overview's queries, run by promtool on tests/slo/promtool/windows.yml's outage."""
    golden = ROOT / "tests/slo/golden"
    board = json.loads(
        render(load(golden / "in-windows.yaml"))[f"{DASHBOARD_DIR}/slolab-slos.json"]
    )
    case = yaml.safe_load((ROOT / "tests/slo/promtool/windows.yml").read_text())
    # the objective and the current burn rate are the SLO's: on its first period's row
    first_only = (c.RULE_OBJECTIVE, c.RULE_CURRENT_BURN_RATE)
    tests = []
    for target in board["panels"][0]["targets"]:
        expr = target["expr"].replace("$service", "orders").replace("$slo", "orders-availability")
        if "ALERTS" in expr:
            continue  # alerts: which fire when is windows.yml's business
        rows = [{"labels": "{}", "value": 1}]
        if not any(name in expr for name in first_only):
            rows.append({"labels": f'{{{c.LABEL_WINDOW}="1d"}}', "value": 1})
        tests.append({"expr": f"count by (slo_window) ({expr})", "eval_time": "3h",
                      "exp_samples": rows})  # fmt: skip
    doc = {
        "rule_files": [str(golden / "out-windows/prometheus/rules/slo-orders.yml")],
        "evaluation_interval": "5m",
        "tests": [{**case["tests"][0], "alert_rule_test": [], "promql_expr_test": tests}],
    }
    path = tmp_path / "overview.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(tests) == 6
