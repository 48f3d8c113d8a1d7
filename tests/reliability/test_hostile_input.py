"""Hostile input against the real servers (gunicorn, uvicorn): oversized bodies, query
operators and SQL in every field. The in-process service tests cover the same rules per
field; these prove the production servers in front change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.figures import record
from tests.reliability.services import FEEDBACK_AUTH, Service, run_pair

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

LIMIT = 64 * 1024  # TASKS_MAX_BODY_BYTES and PREDICTOR_MAX_BODY_BYTES default
SQL = [
    "'); DROP TABLE tasks;--",
    "x' OR '1'='1",
    "1; DELETE FROM tasks",
    '"; SELECT sqlite_version(); --',
]
OPERATORS = [{"$gt": ""}, {"$ne": None}, {"$where": "sleep(1000)"}, ["$gt", ""], {"$regex": ".*"}]
QUERY = ['{"$gt": 0}', "1;DROP TABLE tasks", "1 OR 1=1", "$gt", "[$ne]=1", "0x10", "-1", "1e3"]


@pytest.fixture(scope="module")
def services(tmp_path_factory) -> Iterator[dict[str, Service]]:
    tmp = tmp_path_factory.mktemp("hostile")
    with run_pair(tmp) as services:
        yield services


def _big(n: int) -> bytes:
    return b'{"title": "' + b"a" * n + b'"}'


BODY_ROUTES = [("tasks", "POST", "/api/tasks"), ("tasks", "PATCH", "/api/tasks/{id}"),
               ("predictor", "POST", "/predict"), ("predictor", "POST", "/feedback")]  # fmt: skip


@pytest.mark.parametrize(("service", "method", "path"), BODY_ROUTES)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_bodies_over_the_limit_are_413(services, service, method, path, chunked) -> None:
    svc = services[service]
    if "{id}" in path:
        task = httpx.post(f"{services['tasks'].url}/api/tasks", json={"title": "target"}).json()
        path = path.format(id=task["id"])
    body = _big(LIMIT + 1)
    # A generator body goes out with Transfer-Encoding: chunked, no length up front.
    content = iter([body[i : i + 8192] for i in range(0, len(body), 8192)]) if chunked else body
    headers = {"Content-Type": "application/json", **(FEEDBACK_AUTH if path == "/feedback" else {})}
    resp = httpx.request(method, f"{svc.url}{path}", content=content, timeout=10, headers=headers)
    # tasks on granian takes no chunked body at all (411: test_hostile_clients.py).
    assert resp.status_code == (411 if chunked and service == "tasks" else 413), resp.text
    assert resp.json()["field"] == "body"
    # Just under the limit is parsed normally (a 4xx about the fields, or success).
    ok = httpx.request(method, f"{svc.url}{path}", content=_big(LIMIT - 100), timeout=10,
                       headers=headers)  # fmt: skip
    assert ok.status_code != 413 and ok.status_code < 500, ok.text
    assert httpx.get(f"{svc.url}/healthz").status_code == 200


def test_admin_bodies_over_their_limit_are_413(services) -> None:
    for svc in services.values():
        resp = httpx.put(f"{svc.url}/admin/faults", content=b"{" + b" " * 5000 + b"}",
                         headers={**svc.auth, "Content-Type": "application/json"})  # fmt: skip
        assert resp.status_code == 413, (svc.name, resp.text)


def test_sql_in_text_is_stored_verbatim_and_harmless(services) -> None:
    tasks = services["tasks"].url
    with httpx.Client(base_url=tasks, timeout=10) as c:
        before = c.get("/api/tasks", params={"limit": 1}).json()["total"]
        for text in SQL:
            created = c.post("/api/tasks", json={"title": text})
            assert created.status_code == 201 and created.json()["title"] == text.strip()
            patched = c.patch(f"/api/tasks/{created.json()['id']}", json={"title": text + " 2"})
            assert patched.status_code == 200 and patched.json()["title"] == text + " 2"
            assert c.get(f"/api/tasks/{created.json()['id']}").json()["title"] == text + " 2"
        # Exactly the tasks created: nothing dropped, nothing deleted, nothing extra.
        assert c.get("/api/tasks", params={"limit": 1}).json()["total"] == before + len(SQL)


def test_operators_in_any_field_are_422_naming_it(services) -> None:
    tasks, predictor = services["tasks"].url, services["predictor"].url
    task = httpx.post(f"{tasks}/api/tasks", json={"title": "t"}).json()
    pred = httpx.post(f"{predictor}/predict", json={"title_length": 5, "urgent_words": 0,
                      "due_in_days": 1.0, "estimated_hours": 1.0}).json()  # fmt: skip
    valid = {
        (tasks, "POST", "/api/tasks"): {"title": "x", "due_in_days": 1, "estimated_hours": 1},
        (tasks, "PATCH", f"/api/tasks/{task['id']}"): {"title": "x", "done": True,
                                                        "true_priority": "low"},
        (predictor, "POST", "/predict"): {"title_length": 5, "urgent_words": 0,
                                          "due_in_days": 1.0, "estimated_hours": 1.0},
        (predictor, "POST", "/feedback"): {"prediction_id": pred["prediction_id"],
                                           "true_label": "low"},
    }  # fmt: skip
    tried = 0
    for (url, method, path), body in valid.items():
        for field in body:
            for op in OPERATORS:
                auth = FEEDBACK_AUTH if path == "/feedback" else {}
                resp = httpx.request(method, f"{url}{path}", json={**body, field: op}, timeout=10,
                                     headers=auth)  # fmt: skip
                assert resp.status_code == 422, (path, field, op, resp.text)
                assert resp.json().get("field", "").split(".")[0] == field, resp.text
                tried += 1
    after = httpx.get(f"{tasks}/api/tasks/{task['id']}").json()
    assert after["title"] == "t" and after["done"] is False  # no refused PATCH changed it
    record("operator_injection", requests=tried, accepted=0)


def test_operators_and_sql_in_query_and_path_are_refused(services) -> None:
    tasks = services["tasks"].url
    with httpx.Client(base_url=tasks, timeout=10) as c:
        for name in ("limit", "offset", "done"):
            for value in QUERY:
                resp = c.get("/api/tasks", params={name: value})
                assert resp.status_code == 422 and resp.json()["field"] == name, (name, value)
        # The PHP/Express style of smuggling an operator: limit[$gt]=0 is not "limit".
        resp = c.get("/api/tasks?limit[$gt]=0&done[$ne]=true")
        assert resp.status_code == 200 and resp.json()["limit"] == 50
        for bad in ['{"$gt": ""}', "' OR '1'='1", "%24where", "..%2F..%2Fetc%2Fpasswd",
                    "6B03FA58A91EC483D3932F50", "6b03fa58a91ec483d3932f5%00"]:  # fmt: skip
            for method in ("GET", "PATCH", "DELETE"):
                resp = c.request(method, f"/api/tasks/{bad}", json={"done": True})
                assert resp.status_code in (400, 404), (method, bad, resp.text)


def test_the_servers_still_serve_afterwards(services) -> None:
    for svc in services.values():
        assert httpx.get(f"{svc.url}/readyz").status_code == 200
        assert svc.proc is not None and svc.proc.exited() is None
        assert "Traceback" not in Path(svc.log).read_text()
