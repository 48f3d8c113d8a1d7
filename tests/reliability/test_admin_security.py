"""The admin surface of both services: off without a token, 401 without the right one,
compared in constant time, and never changed by a refused request."""

from __future__ import annotations

import ast
import hmac
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from flask import Flask
from starlette.testclient import TestClient

from slolab import faults as faults_module
from slolab.faults import ALLOWED, FaultController
from slolab.lab.procs import free_port
from slolab.services.predictor.app import create_app as create_predictor
from slolab.services.predictor.config import Settings as PredictorSettings
from slolab.services.tasks.app import create_app as create_tasks
from slolab.services.tasks.config import Settings as TasksSettings
from tests.reliability.services import REPO, run_service

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

TOKEN = "s3cret-admin-token-for-tests"
FAULT_ON = {"tasks": {"store_outage": True}, "predictor": {"model_drift": True}}
# (method, path, JSON body) of every operation behind the token, per service.
ADMIN_CALLS = {
    "tasks": [("GET", "/admin/faults", None), ("PUT", "/admin/faults", FAULT_ON["tasks"]),
              ("DELETE", "/admin/faults", None)],
    "predictor": [("GET", "/admin/faults", None), ("PUT", "/admin/faults", FAULT_ON["predictor"]),
                  ("DELETE", "/admin/faults", None), ("POST", "/model/retrain", {"seed": 7})],
}  # fmt: skip
BAD_HEADERS = [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Bearer wrong",
    f"Bearer {TOKEN[:-1]}",  # a prefix
    f"Bearer {TOKEN}x",  # an extension
    f"Bearer {TOKEN.upper()}",
    f"Basic {TOKEN}",  # right secret, wrong scheme
    TOKEN,  # no scheme at all
]

Call = Callable[[str, str, dict | None, str | None], httpx.Response]


def _tasks_client(tmp: Path, token: str | None) -> tuple[Call, FaultController]:
    ctl = FaultController("tasks", ALLOWED["tasks"], tmp / "state", token)
    cfg = TasksSettings(db_path=tmp / "t.sqlite3", predictor_url=f"http://127.0.0.1:{free_port()}")
    app: Flask = create_tasks(cfg, faults=ctl)
    client = app.test_client()

    def call(method: str, path: str, body: dict | None, auth: str | None):
        headers = {} if auth is None else {"Authorization": auth}
        return client.open(path, method=method, json=body, headers=headers)

    return call, ctl


def _predictor_client(tmp: Path, token: str | None) -> tuple[Call, FaultController]:
    ctl = FaultController("predictor", ALLOWED["predictor"], tmp / "state", token)
    client = TestClient(create_predictor(PredictorSettings(retrain_interval_s=0), faults=ctl))

    def call(method: str, path: str, body: dict | None, auth: str | None):
        headers = {} if auth is None else {"Authorization": auth}
        return client.request(method, path, json=body, headers=headers)

    return call, ctl


CLIENTS = {"tasks": _tasks_client, "predictor": _predictor_client}


@pytest.fixture(autouse=True)
def _no_multiproc(monkeypatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


@pytest.fixture(params=["tasks", "predictor"])
def service(request) -> str:
    return request.param


@pytest.mark.parametrize("token", [None, ""])
def test_without_a_token_the_surface_does_not_exist(service: str, token, tmp_path: Path) -> None:
    call, ctl = CLIENTS[service](tmp_path, token)
    for method, path, body in ADMIN_CALLS[service]:
        for auth in (None, f"Bearer {TOKEN}", "Bearer ", "Bearer None"):
            resp = call(method, path, body, auth)
            assert resp.status_code == 404, (method, path, auth, resp.text)
    assert not ctl.current().any_active()


def test_every_bad_credential_is_401_and_changes_nothing(service: str, tmp_path: Path) -> None:
    call, ctl = CLIENTS[service](tmp_path, TOKEN)
    model = call("GET", "/model", None, None) if service == "predictor" else None
    version = model.json()["version"] if model is not None else None
    for method, path, body in ADMIN_CALLS[service]:
        for auth in BAD_HEADERS:
            resp = call(method, path, body, auth)
            assert resp.status_code == 401, (method, path, auth, resp.text)
            assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer")
            assert TOKEN not in resp.text  # nothing echoed back
    assert not ctl.current().any_active()
    if version is not None:  # no refused retrain went through
        assert call("GET", "/model", None, None).json()["version"] == version
    # The right token works for every operation.
    for method, path, body in ADMIN_CALLS[service]:
        assert call(method, path, body, f"Bearer {TOKEN}").status_code == 200, (method, path)


def test_the_decision_is_hmac_compare_digest(service: str, tmp_path: Path, monkeypatch) -> None:
    """Every check goes through hmac.compare_digest: forcing its answer forces the outcome."""
    seen: list[tuple[bytes, bytes]] = []
    verdict = {"value": True}

    def spy(a, b) -> bool:
        seen.append((a, b))
        return verdict["value"]

    monkeypatch.setattr(faults_module.hmac, "compare_digest", spy)
    call, _ = CLIENTS[service](tmp_path, TOKEN)
    for method, path, body in ADMIN_CALLS[service]:
        seen.clear()
        verdict["value"] = True  # a wrong token now passes: no other comparison decides
        assert call(method, path, body, "Bearer wrong").status_code == 200, (method, path)
        assert seen and seen[-1] == (b"wrong", TOKEN.encode())
        verdict["value"] = False  # and the right one fails
        assert call(method, path, body, f"Bearer {TOKEN}").status_code == 401, (method, path)
        assert seen[-1] == (TOKEN.encode(), TOKEN.encode())
    monkeypatch.setattr(faults_module.hmac, "compare_digest", hmac.compare_digest)


def _token_comparisons(tree: ast.AST) -> list[int]:
    """Lines where something named like a token is compared with == or !=."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, ast.Eq | ast.NotEq) for op in node.ops
        ):
            names = [
                n.attr if isinstance(n, ast.Attribute) else n.id
                for n in ast.walk(node)
                if isinstance(n, ast.Attribute | ast.Name)
            ]
            if any("token" in name.lower() or "secret" in name.lower() for name in names):
                lines.append(node.lineno)
    return lines


def test_no_token_is_compared_with_equality_anywhere() -> None:
    """Code review as a test: secrets are only compared by hmac.compare_digest."""
    offenders = {}
    for folder in ("services", "slolab", "loadgen"):
        for path in (REPO / folder).rglob("*.py"):
            lines = _token_comparisons(ast.parse(path.read_text(), str(path)))
            if lines:
                offenders[str(path.relative_to(REPO))] = lines
    assert offenders == {}
    # And the one place that decides uses the constant-time comparison.
    assert "hmac.compare_digest" in (REPO / "slolab" / "faults.py").read_text()


def test_the_check_itself_catches_an_equality() -> None:
    bad = ast.parse("def ok(given):\n    return given == self.admin_token\n")
    assert _token_comparisons(bad) == [2]
    assert _token_comparisons(ast.parse("x = hmac.compare_digest(a, b)")) == []


@pytest.fixture
def untokened(tmp_path: Path, monkeypatch) -> Iterator[list]:
    monkeypatch.delenv("SLOLAB_ADMIN_TOKEN", raising=False)
    with (
        run_service("tasks", tmp_path, SLOLAB_ADMIN_TOKEN="") as tasks,
        run_service("predictor", tmp_path, SLOLAB_ADMIN_TOKEN="",
                    PREDICTOR_RETRAIN_INTERVAL_S="0") as predictor,
    ):  # fmt: skip
        yield [tasks, predictor]


def test_real_servers_started_without_the_variable_have_no_admin_surface(untokened) -> None:
    for svc in untokened:
        for method, path, body in ADMIN_CALLS[svc.name]:
            resp = httpx.request(method, f"{svc.url}{path}", json=body,
                                 headers={"Authorization": "Bearer x"}, timeout=5)  # fmt: skip
            assert resp.status_code == 404, (svc.name, method, path, resp.text)
        assert httpx.get(f"{svc.url}/healthz", timeout=5).status_code == 200
