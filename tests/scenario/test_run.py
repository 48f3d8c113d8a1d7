"""The live runner against stand-ins: faults on schedule, and nothing left on after a service
stops answering, an exception, or SIGTERM to the command."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import slolab.slo as slo_pkg
from slolab.lab.httpserve import BackgroundHTTPServer, QuietHandler
from slolab.lab.procs import free_port
from slolab.scenario.run import Endpoints, GameDay, RunError
from slolab.scenario.spec import parse_scenario

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

ROOT = Path(__file__).resolve().parents[2]
SLOS = slo_pkg.load(ROOT / "slos.yaml")
TOKEN = "t0ken"

SCENARIO = """\
name: stand-in
lesson: faults on both services
duration: 4s
load:
  - {shape: steady, users: 1}
faults:
  - {at: 0s, service: tasks, set: {error_rate: 1}, for: 3s}
  - {at: 1s, service: predictor, set: {model_drift: true}, for: 2s}
expect:
  must_not_fire:
    - {alert: SLOErrorBudgetBurnPage, slo: tasks-latency}
"""


RELOADS: list[float] = []  # POST /-/reload seen by the stand-in Prometheus


@dataclass
class Service:
    """A service's admin API: PUT merges, GET shows; ``down`` drops every request."""

    faults: dict[str, Any] = field(default_factory=dict)
    puts: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False

    def active(self) -> list[str]:
        return sorted(k for k, v in self.faults.items() if v and k != "expires_in_s")


def _stand_in(service: Service | None) -> BackgroundHTTPServer:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            if service is not None and service.down:
                self.connection.close()
                return
            if self.path == "/-/ready":
                self.reply(200, "ready", "text/plain")
            elif self.path == "/api/v1/status/runtimeinfo":
                self.reply(200, {"status": "success", "data": {"reloadConfigSuccess": True}})
            elif self.path.startswith("/api/v1/query"):
                self.reply(
                    200, {"status": "success", "data": {"resultType": "vector", "result": []}}
                )
            elif self.path.startswith("/api/v2/alerts"):
                self.reply(200, [])
            elif self.path == "/admin/faults" and service is not None:
                self.reply(200, {"active": service.active()})
            else:
                self.reply(404, {"error": self.path})

        def do_POST(self) -> None:
            if self.path == "/-/reload":
                RELOADS.append(time.time())
                self.reply(200, "", "text/plain")
            else:
                self.reply(404, {"error": self.path})

        def do_PUT(self) -> None:
            assert service is not None
            if service.down:
                self.connection.close()
                return
            body = json.loads(self.read_body())
            service.puts.append(body)
            service.faults.update(body)
            self.reply(200, {"active": service.active()})

    return BackgroundHTTPServer(Handler)


@pytest.fixture
def stack() -> Iterator[tuple[Endpoints, dict[str, Service]]]:
    services = {"tasks": Service(), "predictor": Service()}
    servers = [_stand_in(None), *(_stand_in(s) for s in services.values())]
    for s in servers:
        s.start()
    prom, tasks, predictor = (s.base_url for s in servers)
    try:
        yield Endpoints(prom, prom, {"tasks": tasks, "predictor": predictor}), services
    finally:
        for s in servers:
            s.stop()


def _day(endpoints: Endpoints, scenario: Any = None, **kw: Any) -> GameDay:
    scenario = scenario or parse_scenario(SCENARIO, SLOS, "stand-in.yaml")
    return GameDay(scenario, SLOS, endpoints, TOKEN, load=False, poll=0.2, predict=False,
                   echo=lambda s: None, **kw)  # fmt: skip


def test_faults_on_schedule_and_off_at_the_end(stack):
    endpoints, services = stack
    result = _day(endpoints).run()
    assert result.scorecard.passed is True
    tasks = services["tasks"].puts
    # on with an expiry (its 3 s plus the grace), then off
    assert tasks[0]["error_rate"] == 1 and tasks[0]["expires_in_s"] == 18
    assert services["tasks"].active() == [] and services["predictor"].active() == []
    assert services["predictor"].puts[0]["model_drift"] is True


def test_a_service_that_stops_answering_ends_the_run_and_the_others_are_cleared(stack):
    endpoints, services = stack

    def crash(card, elapsed, seen):  # the predictor goes away before its fault is due
        services["predictor"].down = True

    with pytest.raises(RunError, match=r"predictor .* does not answer"):
        _day(endpoints, on_update=crash).run()
    assert services["tasks"].active() == []


def test_an_exception_mid_run_clears_the_faults(stack):
    endpoints, services = stack

    def boom(card, elapsed, seen):
        if elapsed > 0.5:
            raise ZeroDivisionError("a bug in a view")

    with pytest.raises(ZeroDivisionError):
        _day(endpoints, on_update=boom).run()
    assert services["tasks"].active() == [] and services["tasks"].puts[-1]["error_rate"] == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_to_the_command_clears_the_faults(stack, tmp_path: Path, sig: int):
    endpoints, services = stack
    path = tmp_path / "stand-in.yaml"
    path.write_text(SCENARIO.replace("duration: 4s", "duration: 60s"))
    urls = endpoints.services
    argv = [sys.executable, "-m", "slolab.cli", "scenario", "run", str(path), "--no-load",
            "--no-predict", "--poll", "0.2", "--prometheus", endpoints.prometheus,
            "--alertmanager", endpoints.alertmanager, "--tasks-url", urls["tasks"],
            "--predictor-url", urls["predictor"]]  # fmt: skip

    # Started as a background job of a script is: SIGINT ignored from birth (NOTES.md).
    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen(argv, env={**os.environ, "SLOLAB_ADMIN_TOKEN": TOKEN},
                            start_new_session=True, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ignore_sigint)  # fmt: skip
    deadline = time.monotonic() + 30
    while not services["predictor"].active():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert services["tasks"].active() == [] and services["predictor"].active() == []


def test_run_refuses_without_a_token(tmp_path: Path, capsys, monkeypatch):
    from slolab.cli import main

    monkeypatch.delenv("SLOLAB_ADMIN_TOKEN", raising=False)
    path = tmp_path / "stand-in.yaml"
    path.write_text(SCENARIO)
    port = free_port()
    assert main(["scenario", "run", str(path), "--prometheus", f"http://127.0.0.1:{port}"]) == 2
    assert "SLOLAB_ADMIN_TOKEN is not set" in capsys.readouterr().err


def test_locust_gets_the_labeler_credential_never_the_admin_token(monkeypatch, stack):
    from slolab.faults import feedback_token
    from slolab.scenario.run import LoadDriver

    monkeypatch.delenv("SLOLAB_FEEDBACK_TOKEN", raising=False)
    driver = LoadDriver(stack[0], None, TOKEN)
    assert driver.feedback == feedback_token({"SLOLAB_ADMIN_TOKEN": TOKEN}) != TOKEN


ADJUSTED = SCENARIO.replace(
    "faults:",
    """adjustments:
  - {at: 1s, for: 2s, reason: planned migration, slos: [tasks-availability]}
faults:""",
)


def _rule_copies(tmp_path: Path) -> Path:
    """The lab's fast copies of the committed rules: 2 s groups, 30 s aggregates."""
    from slolab.lab.render import render_rule_files

    rules = tmp_path / "rules"
    render_rule_files([str(ROOT / "prometheus" / "rules" / "*.yml")], rules, interval="2s")
    return rules


def test_adjustments_go_into_the_rules_prometheus_reads_at_the_runs_times(stack, tmp_path):
    import yaml

    from slolab.scenario.run import RuleAdjustments
    from slolab.slo import conventions as c

    endpoints, _ = stack
    rules = _rule_copies(tmp_path)
    predictor = (rules / "slo-predictor.yml").read_text()
    before = yaml.safe_load((rules / "slo-tasks.yml").read_text())
    scenario = parse_scenario(ADJUSTED, SLOS, "stand-in.yaml")
    RELOADS.clear()
    start = time.time()
    result = _day(endpoints, rules=RuleAdjustments(rules, endpoints.prometheus),
                  scenario=scenario).run()  # fmt: skip
    assert len(RELOADS) == 1 and start <= RELOADS[0]
    after = yaml.safe_load((rules / "slo-tasks.yml").read_text())
    # Each group kept the interval Prometheus ran it at; only the adjusted SLO changed.
    assert [(g["name"], g["interval"]) for g in after["groups"]] == [
        (g["name"], g["interval"]) for g in before["groups"]]  # fmt: skip
    active = [r for g in after["groups"] for r in g["rules"]
              if r.get("record") == c.RULE_ADJUSTMENT_ACTIVE]  # fmt: skip
    assert [r["labels"]["slo"] for r in active] == ["tasks-availability"]
    begin, end = (float(x) for x in re.findall(r"bool ([\d.e+]+)", active[0]["expr"]))
    # The run's 1 s to 3 s: its 0 taken before the rules were written and reloaded.
    assert start + 1 <= begin <= RELOADS[0] + 1 and end - begin == 2
    assert (rules / "slo-predictor.yml").read_text() == predictor  # nothing to adjust there
    # The stand-in says it was never on: the card says the rules lack it.
    assert any("never on in Prometheus" in n for n in result.notes), result.notes


def test_adjustments_refuse_a_folder_without_the_slo_rules(stack, tmp_path):
    from slolab.scenario.run import RuleAdjustments

    endpoints, services = stack
    scenario = parse_scenario(ADJUSTED, SLOS, "stand-in.yaml")
    with pytest.raises(RunError, match=r"slo-tasks.yml .*--rules-dir must be the folder"):
        _day(endpoints, rules=RuleAdjustments(tmp_path, endpoints.prometheus),
             scenario=scenario).run()  # fmt: skip
    assert services["tasks"].puts == []  # nothing ran
    with pytest.raises(RunError, match=r"--rules-dir"):
        _day(endpoints, scenario=scenario)


def test_budget_inside_an_adjustment_is_not_counted():
    from slolab.scenario.run import Watcher

    watcher = Watcher(Endpoints("http://x", "http://x", {}), SLOS,
                      paused={"tasks-availability": [(10.0, 40.0), (50.0, 55.0)]})  # fmt: skip
    slo = next(s for s in SLOS if s.name == "tasks-availability")
    assert watcher._outside(slo, 30.0) == [(0.0, 10.0)]
    assert watcher._outside(slo, 70.0) == [(0.0, 10.0), (40.0, 50.0), (55.0, 70.0)]
