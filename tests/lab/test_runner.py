import os
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest
import yaml

from slolab.lab.config import Ports
from slolab.lab.procs import free_port, port_is_free
from slolab.lab.runner import MARKER, Lab, LabError, fast_config

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fake_repo(tmp_path) -> Path:
    repo = tmp_path / "repo"
    (repo / "prometheus" / "rules").mkdir(parents=True)
    (repo / "alertmanager").mkdir()
    shutil.copy(FIXTURES / "prometheus-compose.yml", repo / "prometheus" / "prometheus.yml")
    shutil.copy(FIXTURES / "alertmanager.yml", repo / "alertmanager" / "alertmanager.yml")
    (repo / "prometheus" / "rules" / "slo-tasks.yml").write_text(
        "groups:\n- name: slo-tasks\n  interval: 30s\n  rules: []\n"
    )
    return repo


def _ports() -> dict[str, int]:
    return {name: free_port() for name in Ports().as_dict()}


def _config(tmp_path, repo, **kw):
    return fast_config(tmp_path / "lab", _ports(), repo=repo, admin_token="t", **kw)


def test_configs_are_rendered_into_the_lab_folder(tmp_path, fake_repo):
    lab = Lab(_config(tmp_path, fake_repo), echo=lambda s: None)
    lab._prepare_dir()
    lab._render_configs()
    out = tmp_path / "lab" / "config"
    prom = yaml.safe_load((out / "prometheus.yml").read_text())
    tasks = next(j for j in prom["scrape_configs"] if j["job_name"] == "tasks")
    assert tasks["static_configs"][0]["targets"] == [f"127.0.0.1:{lab.config.ports.tasks}"]
    assert prom["rule_files"][0] == str(out / "rules" / "*.yml")
    rules = yaml.safe_load((out / "rules" / "slo-tasks.yml").read_text())
    assert rules["groups"][0]["interval"] == "2s"
    # The committed file is untouched.
    assert "30s" in (fake_repo / "prometheus" / "rules" / "slo-tasks.yml").read_text()
    am = yaml.safe_load((out / "alertmanager.yml").read_text())
    urls = {c["url"] for r in am["receivers"] for c in r["webhook_configs"]}
    assert urls == {lab.config.alert_webhook_url}
    assert yaml.safe_load((out / "blackbox.yml").read_text())["modules"]["http_2xx"]
    assert lab.dropped_jobs == ["cadvisor", "jaeger", "docker"]


def test_a_game_day_gets_rule_copies_it_may_adjust_a_plain_lab_the_committed_files(
    tmp_path, fake_repo
):
    from dataclasses import replace

    (fake_repo / "scenarios").mkdir()
    (fake_repo / "scenarios" / "drill.yaml").write_text("name: drill\n")
    plain = replace(_config(tmp_path, fake_repo), evaluation_interval=None)
    for cfg, copies in ((plain, False), (replace(plain, scenario="drill"), True)):
        lab = Lab(cfg, echo=lambda s: None)
        lab._prepare_dir()
        lab._render_configs()
        prom = yaml.safe_load((lab.dir / "config" / "prometheus.yml").read_text())
        assert (prom["rule_files"][0] == str(lab.rules_dir / "*.yml")) is copies, prom
    assert (lab.rules_dir / "slo-tasks.yml").is_file()


def test_missing_committed_config_is_named(tmp_path, fake_repo):
    (fake_repo / "alertmanager" / "alertmanager.yml").unlink()
    lab = Lab(_config(tmp_path, fake_repo), echo=lambda s: None)
    lab._prepare_dir()
    with pytest.raises(LabError, match=r"alertmanager/alertmanager.yml is missing"):
        lab._render_configs()


def test_reset_deletes_a_lab_folder_but_never_a_foreign_one(tmp_path, fake_repo):
    cfg = _config(tmp_path, fake_repo, reset=True)
    lab_dir = cfg.lab_dir
    lab_dir.mkdir()
    (lab_dir / "precious.txt").write_text("not lab state")
    with pytest.raises(LabError, match="not a lab folder"):
        Lab(cfg, echo=lambda s: None)._prepare_dir()
    assert (lab_dir / "precious.txt").exists()

    (lab_dir / MARKER).write_text("")
    (lab_dir / "prometheus-data").mkdir()
    (lab_dir / "prometheus-data" / "old-block").write_text("x")
    Lab(cfg, echo=lambda s: None)._prepare_dir()
    assert not (lab_dir / "precious.txt").exists()
    assert not (lab_dir / "prometheus-data" / "old-block").exists()
    assert (lab_dir / MARKER).exists()


def test_state_is_kept_without_reset(tmp_path, fake_repo):
    cfg = _config(tmp_path, fake_repo)
    Lab(cfg, echo=lambda s: None)._prepare_dir()
    (cfg.lab_dir / "prometheus-data" / "block").write_text("history")
    Lab(cfg, echo=lambda s: None)._prepare_dir()
    assert (cfg.lab_dir / "prometheus-data" / "block").read_text() == "history"


def test_busy_port_stops_the_start_before_anything_runs(tmp_path, fake_repo, monkeypatch):
    cfg = _config(tmp_path, fake_repo)
    monkeypatch.setattr(Lab, "_binaries", lambda self: {})
    started = []
    monkeypatch.setattr(Lab, "_start_service", lambda self, name: started.append(name))
    with socket.socket() as s:
        s.bind(("127.0.0.1", cfg.ports.prometheus))
        s.listen()
        with pytest.raises(LabError, match=rf"port {cfg.ports.prometheus} \(prometheus\)"):
            Lab(cfg, echo=lambda s: None).start()
    assert started == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"


def test_a_failed_start_stops_everything_already_started(tmp_path, fake_repo, monkeypatch):
    cfg = _config(tmp_path, fake_repo, ready_timeout=1.0, stop_timeout=2.0)
    monkeypatch.setattr(Lab, "_binaries", lambda self: {})

    def fake_service(self, name):
        code = "import time; time.sleep(60)" if name == "tasks" else "raise SystemExit(3)"
        self.supervisor.start(name, [sys.executable, "-c", code])

    monkeypatch.setattr(Lab, "_start_service", fake_service)
    # Prometheus and its companions start before the services are ready: stopped too.
    companions = ("blackbox", "alertmanager", "prometheus")
    for name in companions:
        monkeypatch.setattr(
            Lab, f"_start_{name}",
            lambda self, n=name: self.supervisor.start(
                n, [sys.executable, "-c", "import time; time.sleep(60)"]),
        )  # fmt: skip
    real_wait = Lab._wait
    monkeypatch.setattr(Lab, "_wait", lambda self, name, url: None if name in companions
                        else real_wait(self, name, url))  # fmt: skip
    lab = Lab(cfg, echo=lambda s: None)
    with pytest.raises(LabError) as err:
        lab.start()
    assert "tasks was not ready" in str(err.value)
    assert str(cfg.lab_dir / "logs" / "tasks.log") in str(err.value)
    assert lab.processes == []
    assert lab.receiver is None
    assert port_is_free(cfg.ports.webhook)


def test_a_process_dying_later_is_reported_with_its_log(tmp_path, fake_repo):
    lab = Lab(_config(tmp_path, fake_repo), echo=lambda s: None)
    proc = lab.supervisor.start("tasks", [sys.executable, "-c", "print('db locked')"])
    proc.popen.wait(timeout=10)
    with pytest.raises(LabError, match=r"(?s)tasks exited with code 0.*db locked"):
        lab.check()
    lab.stop()
    assert lab.processes == []


def test_stop_also_stops_the_children_of_each_process(tmp_path, fake_repo):
    lab = Lab(_config(tmp_path, fake_repo), echo=lambda s: None)
    pid_file = tmp_path / "child.pid"
    lab.supervisor.start("svc", ["sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait"])
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child = int(pid_file.read_text())
    lab.stop()
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _rendered_jobs(lab: Lab) -> dict[str, list[str]]:
    lab._prepare_dir()
    lab._choose_traces()
    lab._render_configs()
    prom = yaml.safe_load((lab.dir / "config" / "prometheus.yml").read_text())
    return {j["job_name"]: j["static_configs"][0]["targets"] for j in prom["scrape_configs"]}


def test_traces_go_to_the_labs_own_receiver_without_jaeger(tmp_path, fake_repo, monkeypatch):
    monkeypatch.delenv("JAEGER_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    lab = Lab(_config(tmp_path, fake_repo), echo=lambda s: None)
    jobs = _rendered_jobs(lab)
    assert lab.traces == "store"
    assert lab.otlp_endpoint == lab.url("otlp")
    # Prometheus' job jaeger scrapes the receiver's /metrics (the Grafana trace panel).
    assert jobs["jaeger"] == [f"127.0.0.1:{lab.config.ports.otlp}"]
    assert "otlp" in lab._ports_in_use() and "jaeger" not in lab._ports_in_use()


def test_a_jaeger_binary_is_run_instead(tmp_path, fake_repo, monkeypatch):
    fake = tmp_path / "jaeger-v2"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("JAEGER_BIN", str(fake))
    (fake_repo / "jaeger").mkdir()
    shutil.copy(Path(__file__).parents[2] / "jaeger" / "config.yaml", fake_repo / "jaeger")
    lab = Lab(_config(tmp_path, fake_repo), echo=lambda s: None)
    jobs = _rendered_jobs(lab)
    assert lab.traces == "jaeger" and lab.bins["jaeger"] == str(fake)
    assert jobs["jaeger"] == [f"127.0.0.1:{lab.jaeger_metrics_port}"]
    jaeger = yaml.safe_load((lab.dir / "config" / "jaeger.yml").read_text())
    otlp = jaeger["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert otlp == f"127.0.0.1:{lab.config.ports.otlp}"


def test_an_endpoint_given_runs_no_receiver(tmp_path, fake_repo, monkeypatch):
    monkeypatch.setenv("JAEGER_BIN", "/nonexistent/jaeger")
    lab = Lab(_config(tmp_path, fake_repo, otlp_endpoint="http://collector:4318"), echo=print)
    jobs = _rendered_jobs(lab)
    assert (lab.traces, lab.otlp_endpoint) == ("external", "http://collector:4318")
    assert "jaeger" not in jobs and "otlp" not in lab._ports_in_use()
    off = Lab(_config(tmp_path, fake_repo, traces="off"), echo=print)
    off._choose_traces()
    assert off.otlp_endpoint is None
    with pytest.raises(LabError, match="LAB_TRACES=jaeger: no jaeger binary"):
        Lab(_config(tmp_path, fake_repo, traces="jaeger"), echo=print)._choose_traces()


FAKE_JAEGER = """#!{python}
# Stands in for Jaeger v2: serves its UI port from the config the lab rendered.
import sys, yaml
from http.server import BaseHTTPRequestHandler, HTTPServer
cfg = yaml.safe_load(open(sys.argv[1].split("=", 1)[1]))
host, port = cfg["extensions"]["jaeger_query"]["http"]["endpoint"].rsplit(":", 1)
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"jaeger ui")
HTTPServer((host, int(port)), H).serve_forever()
"""


def test_the_jaeger_binary_is_started_on_its_rendered_config(tmp_path, fake_repo, monkeypatch):
    fake = tmp_path / "jaeger"
    fake.write_text(FAKE_JAEGER.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setenv("JAEGER_BIN", str(fake))
    (fake_repo / "jaeger").mkdir()
    shutil.copy(Path(__file__).parents[2] / "jaeger" / "config.yaml", fake_repo / "jaeger")
    lab = Lab(_config(tmp_path, fake_repo), echo=lambda s: None)
    try:
        _rendered_jobs(lab)
        lab._start_traces()
        (jaeger,) = lab.processes
        assert jaeger.name == "jaeger" and "jaeger" in lab.ready_seconds
        assert lab.otlp is None  # no receiver of its own beside Jaeger
    finally:
        lab.stop()
    assert jaeger.exited() is not None


def test_the_ports_checked_are_those_of_the_components_started(tmp_path, fake_repo):
    full = Lab(_config(tmp_path, fake_repo, load=True, blackbox=True), echo=lambda s: None)
    assert set(full._ports_in_use()) >= {"tasks", "predictor", "prometheus", "alertmanager"}
    bare = _config(tmp_path, fake_repo, load=False, blackbox=False, dashboard=False)
    checked = set(Lab(bare, echo=lambda s: None)._ports_in_use())
    assert not checked & {"blackbox", "locust", "dashboard"}
    assert {"tasks", "predictor", "prometheus", "alertmanager"} <= checked
