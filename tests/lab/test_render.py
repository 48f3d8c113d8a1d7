import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from slolab.lab import render

FIXTURES = Path(__file__).parent / "fixtures"
PORTS = {
    "tasks": 18081,
    "predictor": 18082,
    "prometheus": 19090,
    "alertmanager": 19093,
    "blackbox": 19115,
}


def _source() -> dict:
    return yaml.safe_load((FIXTURES / "prometheus-compose.yml").read_text())


def _render(**kw) -> dict:
    return render.render_prometheus(
        _source(), ports=PORTS, config_dir=Path("/repo/prometheus"), **kw
    )


def _job(cfg: dict, name: str) -> dict:
    return next(j for j in cfg["scrape_configs"] if j["job_name"] == name)


def test_map_address_rewrites_compose_hosts_and_leaves_others():
    assert render.map_address("tasks:8081", PORTS) == "127.0.0.1:18081"
    assert render.map_address("http://tasks:8081/api/tasks", PORTS) == (
        "http://127.0.0.1:18081/api/tasks"
    )
    assert render.map_address("blackbox-exporter:9115", PORTS) == "127.0.0.1:19115"
    assert render.map_address("localhost:9090", PORTS) == "127.0.0.1:19090"
    assert render.map_address("cadvisor:8080", PORTS) == "cadvisor:8080"
    assert render.map_address("no address here", PORTS) == "no address here"


def test_native_jobs_keep_their_names_and_foreign_ones_are_dropped():
    cfg = _render()
    names = [j["job_name"] for j in cfg["scrape_configs"]]
    assert names == ["prometheus", "tasks", "predictor", "blackbox-tasks"]
    assert render.dropped_jobs(_source()) == ["cadvisor", "jaeger", "docker"]


def test_targets_point_at_the_lab_ports():
    cfg = _render()
    assert _job(cfg, "tasks")["static_configs"][0]["targets"] == ["127.0.0.1:18081"]
    assert _job(cfg, "prometheus")["static_configs"][0]["targets"] == ["127.0.0.1:19090"]
    probe = _job(cfg, "blackbox-tasks")
    assert probe["static_configs"][0]["targets"] == ["http://127.0.0.1:18081/api/tasks"]
    assert probe["relabel_configs"][-1]["replacement"] == "127.0.0.1:19115"
    managers = cfg["alerting"]["alertmanagers"]
    assert managers[0]["static_configs"][0]["targets"] == ["127.0.0.1:19093"]


def test_rule_files_become_absolute_paths_in_the_checkout():
    assert _render()["rule_files"] == ["/repo/prometheus/rules/slo-*.yml"]
    assert _render(rule_files=["/lab/rules/*.yml"])["rule_files"] == ["/lab/rules/*.yml"]


def test_committed_intervals_are_kept_unless_overridden():
    cfg = _render()
    assert cfg["global"]["scrape_interval"] == "10s"
    assert _job(cfg, "tasks")["scrape_interval"] == "5s"

    fast = _render(scrape_interval="2s", evaluation_interval="2s")
    assert fast["global"]["scrape_interval"] == "2s"
    assert fast["global"]["evaluation_interval"] == "2s"
    assert fast["global"]["scrape_timeout"] == "2s"  # never longer than the interval
    for job in fast["scrape_configs"]:
        assert job["scrape_interval"] == "2s"
    assert _job(fast, "tasks")["scrape_timeout"] == "2s"


def test_source_config_is_not_modified():
    source = _source()
    before = yaml.safe_dump(source)
    render.render_prometheus(source, ports=PORTS, config_dir=Path("/x"), scrape_interval="1s")
    assert yaml.safe_dump(source) == before


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_rendered_config_passes_promtool(tmp_path):
    out = tmp_path / "prometheus.yml"
    cfg = _render(rule_files=[str(tmp_path / "rules" / "*.yml")], scrape_interval="2s")
    out.write_text(yaml.safe_dump(cfg))
    res = subprocess.run(["promtool", "check", "config", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_rule_copies_get_the_test_interval_and_originals_stay(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    original = "groups:\n- name: a\n  interval: 30s\n  rules: []\n- name: b\n  rules: []\n"
    (src / "slo-x.yml").write_text(original)
    files, copies = render.render_rule_files(
        [str(src / "slo-*.yml")], tmp_path / "out", interval="2s"
    )
    assert [c.name for c in copies] == ["slo-x.yml"]
    groups = yaml.safe_load(copies[0].read_text())["groups"]
    assert [g["interval"] for g in groups] == ["2s", "2s"]
    assert (src / "slo-x.yml").read_text() == original
    assert files[0] == str(tmp_path / "out" / "*.yml")


def test_the_slo_aggregates_record_over_their_own_interval_in_test_mode(tmp_path):
    """Rates over 5m recorded every 2s would count each event 150 times in the period sums:
    the aggregates get a shorter window and the same interval, each event counted once."""
    from slolab.lab.config import repo_root
    from slolab.slo import conventions as c

    committed = sorted((repo_root() / "prometheus" / "rules").glob("slo-*.yml"))
    _, copies = render.render_rule_files([str(p) for p in committed], tmp_path, interval="2s")
    assert len(copies) == len(committed) >= 2
    for copy in copies:
        groups = yaml.safe_load(copy.read_text())["groups"]
        by_interval = {g["name"]: g["interval"] for g in groups}
        aggregates = [
            g for g in groups if any(r.get("record") == c.RULE_EVENTS_AGGREGATE for r in g["rules"])
        ]
        assert len(aggregates) == 1, copy.name
        assert aggregates[0]["interval"] == render.TEST_AGGREGATE_WINDOW
        assert render.counts_its_interval(aggregates[0])
        exprs = " ".join(r["expr"] for r in aggregates[0]["rules"])
        assert f"[{c.AGGREGATE_WINDOW}]" not in exprs
        assert f"[{render.TEST_AGGREGATE_WINDOW}]" in exprs
        # every other group runs at the test interval
        assert set(by_interval.values()) == {"2s", render.TEST_AGGREGATE_WINDOW}, by_interval


@pytest.mark.parametrize(
    ("group", "kept"),
    [
        ({"interval": "5m", "rules": [{"record": "a", "expr": "rate(x[5m])"},
                                      {"record": "b", "expr": "timestamp(a)"}]}, True),
        ({"interval": "300s", "rules": [{"record": "a", "expr": "rate(x[5m])"}]}, True),
        ({"interval": "30s", "rules": [{"record": "a", "expr": "rate(x[5m])"}]}, False),
        ({"interval": "5m", "rules": [{"record": "a", "expr": "rate(x[5m]) / rate(y[1h])"}]},
         False),
        ({"interval": "5m", "rules": [{"record": "a", "expr": "sum(x)"}]}, False),
        ({"rules": [{"record": "a", "expr": "rate(x[1m])"}]}, False),  # the global interval
    ],
)  # fmt: skip
def test_only_groups_recording_over_their_own_interval_keep_it(group, kept):
    assert render.counts_its_interval(group) is kept


def _am(fast: bool = False) -> dict:
    source = yaml.safe_load((FIXTURES / "alertmanager.yml").read_text())
    return render.render_alertmanager(source, webhook_url="http://127.0.0.1:5555/alerts", fast=fast)


def test_every_receiver_delivers_to_the_lab_webhook_and_keeps_its_name():
    cfg = _am()
    assert [r["name"] for r in cfg["receivers"]] == ["default", "pagerduty", "slack"]
    for rcv in cfg["receivers"]:
        assert set(rcv) == {"name", "webhook_configs"}
        assert rcv["webhook_configs"] == [
            {"url": "http://127.0.0.1:5555/alerts", "send_resolved": True}
        ]
    assert cfg["global"] == {"resolve_timeout": "5m"}
    assert "templates" not in cfg
    # Routing and inhibition stay as committed.
    assert cfg["route"]["routes"][0]["receiver"] == "pagerduty"
    assert cfg["route"]["group_wait"] == "30s"
    assert cfg["inhibit_rules"][0]["equal"] == ["slo"]


def test_fast_alerts_shorten_timing_on_every_route_that_sets_it():
    cfg = _am(fast=True)
    route = cfg["route"]
    assert (route["group_wait"], route["group_interval"]) == ("1s", "2s")
    assert route["routes"][0]["group_wait"] == "1s"
    assert "group_wait" not in route["routes"][1]  # inherits the root's


def test_alertmanager_without_receivers_is_an_error():
    with pytest.raises(ValueError, match="no receivers"):
        render.render_alertmanager({"route": {}}, webhook_url="http://x")


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not installed")
def test_rendered_alertmanager_config_passes_amtool(tmp_path):
    out = tmp_path / "alertmanager.yml"
    out.write_text(yaml.safe_dump(_am(fast=True)))
    res = subprocess.run(["amtool", "check-config", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_jaeger_job_scrapes_what_the_lab_runs_in_its_place():
    cfg = _render(extra_hosts={"jaeger": 14318})
    assert _job(cfg, "jaeger")["static_configs"][0]["targets"] == ["127.0.0.1:14318"]
    assert render.dropped_jobs(_source(), {"jaeger": 14318}) == ["cadvisor", "docker"]


def test_jaeger_config_on_the_lab_ports():
    source = yaml.safe_load((Path(__file__).parents[2] / "jaeger" / "config.yaml").read_text())
    cfg = render.render_jaeger(
        source, host="127.0.0.1", otlp=14318, ui=16000, metrics=17000, internal=[1, 2]
    )
    assert cfg["receivers"]["otlp"] == {"protocols": {"http": {"endpoint": "127.0.0.1:14318"}}}
    assert cfg["extensions"]["jaeger_query"]["http"]["endpoint"] == "127.0.0.1:16000"
    assert cfg["extensions"]["jaeger_query"]["storage"] == {"traces": "memstore"}  # kept
    reader = cfg["service"]["telemetry"]["metrics"]["readers"][0]
    assert reader["pull"]["exporter"]["prometheus"] == {"host": "127.0.0.1", "port": 17000}
    assert "0.0.0.0" not in yaml.safe_dump(cfg)  # nothing listens beyond loopback
