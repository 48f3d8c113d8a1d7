"""What the toolkit prints and serves, byte for byte, from a deterministic fake Prometheus.

The snapshots under ``snapshots/`` were taken from the tree before the toolkit
was split into layers (issue 22); a refactoring must leave every one of them
equal. Every answer of the fake is a function of the query text alone, so the
queries sent are pinned too: a changed expression answers other numbers.
``SLOLAB_UPDATE_SNAPSHOTS=1`` rewrites them (only for a deliberate change).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pkgutil
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import slolab.slo
import slolab.web
from slolab.cli import main
from slolab.slo import conventions as c
from slolab.web import data
from slolab.web.app import create_app
from tests.slo.fake_prometheus import alerts, matrix, success, vector

SNAPSHOTS = Path(__file__).parent / "snapshots"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NAMES = (
    "slo:sli_error:ratio_rate5m",
    "slo:sli_error:ratio_rate1h",
    "slo:sli_error:ratio_rate6h",
    "slo:sli_error:ratio_rate2m",
    c.RULE_ERROR_RATIO_PERIOD,
    c.RULE_BUDGET_REMAINING,
    c.RULE_PERIOD_COVERAGE,
)
SLOS = ("tasks-availability", "tasks-latency", "model-freshness")


def _fraction(*parts: object) -> float:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def route(path: str, params: dict[str, str]):
    """Answers that depend on the query text only (and the step index for ranges)."""
    query = params.get("query", "")
    if path == "/api/v1/alerts":
        page = {"alertname": c.ALERT_PAGE, "slo": "tasks-availability", "severity": "critical"}
        ticket = {"alertname": c.ALERT_TICKET, "slo": "tasks-latency", "severity": "warning"}
        return alerts({"labels": page}, {"labels": ticket, "state": "pending"})
    if path == "/api/v1/query_exemplars":
        return success(
            [
                {
                    "seriesLabels": {"__name__": "x_bucket", "le": "+Inf", "path": "/api/tasks"},
                    "exemplars": [
                        {"labels": {"trace_id": "ab" * 16}, "value": "1.5", "timestamp": 1.8e9}
                    ],
                }
            ]
        )
    if path == "/api/v1/query_range":
        start, end = float(params["start"]), float(params["end"])
        step = float(params["step"].removesuffix("s"))
        count = min(int((end - start) / step) + 1, 400)
        if query.startswith("ALERTS"):
            labels = {"alertname": c.ALERT_PAGE, "slo": "tasks-availability"}
            points = [(start + i * step, 1.0) for i in range(count) if 10 <= i % 50 < 20]
            return matrix((labels, points))
        points = [
            (start + i * step, float("nan") if i % 37 == 5 else _fraction(query, i))
            for i in range(count)
        ]
        return matrix(({}, points))
    if query.rstrip().endswith("]"):  # a range selector: raw samples (ALERTS[7d])
        at = float(params.get("time", NOW.timestamp()))
        labels = {"alertname": c.ALERT_PAGE, "slo": "tasks-availability", "alertstate": "firing"}
        labels |= {"service": "tasks", "severity": "critical"}
        points = [(at - 86400 * 3 + i * 60, 1.0) for i in range(45)]
        return matrix((labels, points))
    if query.startswith('{__name__=~"'):  # status: every recorded series at once
        items = [
            ({"__name__": n, "slo": s, "service": "x"}, _fraction(n, s) / 2)
            for s in SLOS
            for n in NAMES
        ]
        return vector(*items)
    return vector(({}, _fraction(query)))


class FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return NOW if tz is not None else NOW.replace(tzinfo=None)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Now is NOW in every toolkit module, wherever a refactoring moves the clock."""
    monkeypatch.setattr(time, "time", lambda: NOW.timestamp())
    for package in (slolab.slo, slolab.web):  # the CLI imports its commands late
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(info.name)
    for name, module in list(sys.modules.items()):
        if name.startswith("slolab") and getattr(module, "datetime", None) is datetime:
            monkeypatch.setattr(module, "datetime", FrozenDatetime)
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.setenv("NO_COLOR", "1")


def check(name: str, text: str) -> None:
    # Where the checkout lies is not output: one placeholder for it in every snapshot.
    text = text.replace(str(Path(__file__).resolve().parents[2]), "<checkout>")
    path = SNAPSHOTS / name
    if os.environ.get("SLOLAB_UPDATE_SNAPSHOTS"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed"


def _cli(args: list[str], capsys) -> str:
    code = main(args)
    captured = capsys.readouterr()
    return f"exit {code}\n--- stdout\n{captured.out}--- stderr\n{captured.err}"


ONLINE = {
    "status": ["status"],
    "status-one": ["status", "--slo", "tasks-latency"],
    "gate": ["gate"],
    "trends": ["trends", "--end", "2026-11-23T12:00:00Z"],
    "query-sli": ["query", "sli", "--slo", "tasks-availability", "--window", "1h"],
    "query-latency": ["query", "latency", "--service", "tasks", "--quantile", "0.99"],
    "incidents": ["incidents", "--end", "2026-11-23T12:00:00Z", "--since", "7d"],
    "report-md": ["report", "--end", "2026-11-23T12:00:00Z"],
    "report-html": ["report", "--end", "2026-11-23T12:00:00Z", "--format", "html"],
    "report-month": ["report", "--calendar", "month", "--incidents"],
}


@pytest.mark.parametrize("case", ONLINE, ids=str)
def test_online_command_output(case, fake_prom, toolkit_slos_file, frozen, capsys) -> None:
    fake_prom.route = route
    args = ["slo", *ONLINE[case], "--file", str(toolkit_slos_file)]
    out = _cli([*args, "--prometheus", fake_prom.url], capsys)
    check(f"{case}.txt", out.replace(fake_prom.url, "http://prometheus"))


def test_web_json(fake_prom, toolkit_slos, frozen) -> None:
    fake_prom.route = route
    settings = data.DashboardSettings(jaeger_url="http://jaeger:16686")
    with TestClient(create_app(toolkit_slos, fake_prom.url, settings)) as client:
        state = client.get("/api/state").json()
        charts = client.get("/api/charts").json()
    text = json.dumps({"state": state, "charts": charts}, indent=1, sort_keys=True)
    check("web.json", text.replace(fake_prom.url, "http://prometheus") + "\n")


ROOT = Path(__file__).resolve().parents[2]
OFFLINE = {
    "validate": ["validate", "--file", str(ROOT / "slos.yaml")],
    "list": ["list", "--file", str(ROOT / "slos.yaml")],
    "reviews": ["reviews", "--file", str(ROOT / "slos.yaml")],
}


@pytest.mark.parametrize("case", OFFLINE, ids=str)
def test_offline_command_output(case, frozen, capsys) -> None:
    check(f"{case}.txt", _cli(["slo", *OFFLINE[case]], capsys))


SIMULATE = ["simulate", "-f", str(ROOT / "slos.yaml"), "--slo", "tasks-error-rate"]
SIMULATIONS = {
    "simulate-md": [*SIMULATE, "--error-ratio", "100%,10%", "--duration", "10m", "--budget"],
    "simulate-html": [*SIMULATE, "--error-ratio", "100%", "--duration", "10m", "--format", "html"],
}


@pytest.mark.slow  # promtool runs the generated rules
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
@pytest.mark.parametrize("case", SIMULATIONS, ids=str)
def test_simulate_report(case, frozen, capsys) -> None:
    check(f"{case}.txt", _cli(["slo", *SIMULATIONS[case]], capsys))
