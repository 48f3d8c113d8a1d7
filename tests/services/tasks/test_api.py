"""The tasks API through Flask's test client (store: SQLite in a temp dir)."""

from __future__ import annotations

import json
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from slolab.faults import FaultController
from slolab.services.tasks.app import create_app
from slolab.services.tasks.config import Settings
from slolab.services.tasks.predictor_client import features
from tests.services.tasks.conftest import TOKEN, TRUTH, closed_port_url, metric
from tests.services.tasks.fake_predictor import FakePredictor

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def create(client: FlaskClient, title: str = "a task", **extra) -> dict:
    resp = client.post("/api/tasks", json={"title": title, **extra})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


# -- happy paths ---------------------------------------------------------------


def test_create_asks_the_predictor_and_stores_its_estimate(
    client: FlaskClient, predictor: FakePredictor
) -> None:
    resp = client.post(
        "/api/tasks", json={"title": "  Fix prod ASAP, urgent!  ", "due_in_days": 1,
                            "estimated_hours": 2.5},
    )  # fmt: skip
    assert resp.status_code == 201
    task = resp.get_json()
    assert resp.headers["Location"] == f"/api/tasks/{task['id']}"
    assert task["title"] == "Fix prod ASAP, urgent!"
    assert (task["priority"], task["prediction_id"]) == ("high", "p1")
    assert (task["done"], task["due_in_days"], task["estimated_hours"]) == (False, 1.0, 2.5)
    path, body = predictor.requests[0]
    assert path == "/predict"
    assert body == {"title_length": 22, "urgent_words": 3, "due_in_days": 1.0,
                    "estimated_hours": 2.5}  # fmt: skip
    assert client.get(f"/api/tasks/{task['id']}").get_json() == task
    assert metric(client, "create_task_total") == 1


def test_features_count_urgent_words_case_insensitively() -> None:
    f = features("URGENT: fix now, not tomorrow; prefix/fixing don't count", 3, 4)
    assert f == {"title_length": 56, "urgent_words": 3, "due_in_days": 3.0,
                 "estimated_hours": 4.0}  # fmt: skip


def test_defaults_for_optional_fields(client: FlaskClient) -> None:
    task = create(client)
    assert (task["due_in_days"], task["estimated_hours"]) == (7.0, 1.0)


def test_list_pages_newest_first_and_filters(client: FlaskClient) -> None:
    ids = [create(client, f"t{i}")["id"] for i in range(5)]
    client.patch(f"/api/tasks/{ids[1]}", json={"done": True})
    page = client.get("/api/tasks?limit=2&offset=1").get_json()
    assert [t["id"] for t in page["items"]] == [ids[3], ids[2]]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)
    done = client.get("/api/tasks?done=true").get_json()
    assert [t["id"] for t in done["items"]] == [ids[1]] and done["total"] == 1
    assert client.get("/api/tasks?done=false").get_json()["total"] == 4
    assert client.get("/api/tasks").get_json()["limit"] == 50


def test_patch_and_delete(client: FlaskClient) -> None:
    task = create(client)
    resp = client.patch(f"/api/tasks/{task['id']}", json={"title": "renamed", "done": True})
    assert resp.status_code == 200
    assert (resp.get_json()["title"], resp.get_json()["done"]) == ("renamed", True)
    resp = client.delete(f"/api/tasks/{task['id']}")
    assert resp.status_code == 204 and resp.data == b""
    assert client.get(f"/api/tasks/{task['id']}").status_code == 404
    assert client.delete(f"/api/tasks/{task['id']}").status_code == 404
    assert metric(client, "delete_task_total") == 1


def test_true_priority_is_forwarded_once_as_feedback(
    client: FlaskClient, predictor: FakePredictor
) -> None:
    task = create(client)
    resp = client.patch(
        f"/api/tasks/{task['id']}", json={"done": True, "true_priority": "low"}, headers=TRUTH
    )
    assert resp.status_code == 200 and resp.get_json()["true_priority"] == "low"
    assert predictor.requests[-1] == (
        "/feedback", {"prediction_id": task["prediction_id"], "true_label": "low"},
    )  # fmt: skip
    again = client.patch(f"/api/tasks/{task['id']}", json={"true_priority": "high"}, headers=TRUTH)
    assert again.status_code == 409 and again.get_json()["field"] == "true_priority"
    assert predictor.paths().count("/feedback") == 1


def test_ground_truth_needs_the_labeler_credential(client, predictor) -> None:
    """Any client could drive the accuracy SLI to 0% with wrong labels (issue 25)."""
    task = create(client)
    url = f"/api/tasks/{task['id']}"
    for headers in ({}, AUTH, {"Authorization": "Bearer wrong"}):  # the admin token is not it
        resp = client.patch(url, json={"done": True, "true_priority": "low"}, headers=headers)
        assert resp.status_code == 401, resp.get_json()
        assert resp.get_json()["field"] == "true_priority"
        assert "Bearer" in resp.headers["WWW-Authenticate"]
    assert client.get(url).get_json()["done"] is False  # nothing of the PATCH applied
    assert "/feedback" not in predictor.paths()
    assert client.patch(url, json={"done": True}).status_code == 200  # the rest stays open


# -- bad input: 4xx naming the field, never 5xx ---------------------------------

BAD_CREATES = [
    ({}, 422, "title"),
    ({"title": ""}, 422, "title"),
    ({"title": "   \t\n"}, 422, "title"),
    ({"title": "\x1c\x1d"}, 422, "title"),
    ({"title": "x" * 201}, 422, "title"),
    ({"title": None}, 422, "title"),
    ({"title": 5}, 422, "title"),
    ({"title": ["a"]}, 422, "title"),
    ({"title": {"$gt": ""}}, 422, "title"),
    ({"title": "ok", "due_in_days": -1}, 422, "due_in_days"),
    ({"title": "ok", "due_in_days": "3"}, 422, "due_in_days"),
    ({"title": "ok", "due_in_days": 1e9}, 422, "due_in_days"),
    ({"title": "ok", "due_in_days": True}, 422, "due_in_days"),
    ({"title": "ok", "estimated_hours": 0}, 422, "estimated_hours"),
    ({"title": "ok", "estimated_hours": None}, 422, "estimated_hours"),
    ({"title": "ok", "done": True}, 422, "done"),
    ({"title": "ok", "id": "6b03fa58a91ec483d3932f50"}, 422, "id"),
    ({"title": "ok", "priority": "high"}, 422, "priority"),
    ([{"title": "ok"}], 422, "body"),
    ("just a string", 422, "body"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_CREATES)
def test_bad_creates_are_refused_naming_the_field(
    client: FlaskClient, body: object, status: int, field: str
) -> None:
    resp = client.post("/api/tasks", json=body)
    assert resp.status_code == status, resp.get_json()
    err = resp.get_json()
    assert err["field"] == field and field in err["error"]
    assert client.get("/api/tasks").get_json()["total"] == 0


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"{", 400),
        (b'{"title": "a",}', 400),
        (b'{"title": NaN}', 422),
        (b'{"title": "ok", "due_in_days": NaN}', 422),
        (b'{"title": "ok", "due_in_days": Infinity}', 422),
        (b'{"title": "\\ud800"}', 400),
        (b"\xff\xfe{}", 400),
        (b"", 400),
    ],
)
def test_malformed_json_is_a_client_error(client: FlaskClient, raw: bytes, status: int) -> None:
    resp = client.post("/api/tasks", data=raw, content_type="application/json")
    assert resp.status_code == status
    assert resp.get_json()["field"] in {"body", "title", "due_in_days"}


def test_nan_in_a_float_field_names_it(client: FlaskClient) -> None:
    resp = client.post(
        "/api/tasks", data=b'{"title": "ok", "due_in_days": NaN}', content_type="application/json"
    )
    assert resp.get_json()["field"] == "due_in_days"


def test_wrong_content_type_is_415(client: FlaskClient) -> None:
    for ct in ("text/plain", "application/x-www-form-urlencoded", None):
        resp = client.post("/api/tasks", data='{"title": "x"}', content_type=ct)
        assert resp.status_code == 415 and resp.get_json()["field"] == "body"


def test_body_over_the_limit_is_413(client: FlaskClient, app: Flask) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    big = json.dumps({"title": "x" * limit})
    for method in (client.post, client.patch):
        url = "/api/tasks" if method == client.post else f"/api/tasks/{'a' * 24}"
        resp = method(url, data=big, content_type="application/json")
        assert resp.status_code == 413
        assert str(limit) in resp.get_json()["error"]


BAD_PATCHES = [
    ({}, "body"),
    ({"title": ""}, "title"),
    ({"title": None}, "title"),
    ({"done": "yes"}, "done"),
    ({"done": 1}, "done"),
    ({"done": None}, "done"),
    ({"true_priority": "urgent"}, "true_priority"),
    ({"true_priority": None}, "true_priority"),
    ({"priority": "low"}, "priority"),
    ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
    ({"$set": {"title": "x"}}, "$set"),
]


@pytest.mark.parametrize(("body", "field"), BAD_PATCHES)
def test_bad_patches_are_422_and_change_nothing(
    client: FlaskClient, body: dict, field: str
) -> None:
    task = create(client)
    resp = client.patch(f"/api/tasks/{task['id']}", json=body)
    assert resp.status_code == 422 and resp.get_json()["field"] == field
    assert client.get(f"/api/tasks/{task['id']}").get_json() == task


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=-1", "limit=abc", "limit=1.5", "limit=", "limit=%201",
     "offset=-1", "offset=1000001", "offset=x", "done=yes", "done=1", "done=True", "done="],
)  # fmt: skip
def test_bad_list_queries_name_the_parameter(client: FlaskClient, query: str) -> None:
    resp = client.get(f"/api/tasks?{query}")
    assert resp.status_code == 422
    assert resp.get_json()["field"] == query.split("=")[0]


@pytest.mark.parametrize(
    "task_id",
    ["nope", "1", "6B03FA58A91EC483D3932F50", "6b03fa58a91ec483d3932f5",
     "6b03fa58a91ec483d3932f500", "' OR '1'='1", "%24gt", "..%2F..%2Fetc",
     "6b03fa58a91ec483d3932f5g"],
)  # fmt: skip
def test_invalid_ids_are_404_before_the_store(
    client: FlaskClient, app: Flask, task_id: str, monkeypatch
) -> None:
    def boom(*a, **k):
        raise AssertionError("the store was asked about an invalid id")

    store = app.extensions["slolab_tasks"].store
    for name in ("get", "update", "delete"):
        monkeypatch.setattr(store, name, boom)
    for method in ("GET", "PATCH", "DELETE"):
        resp = client.open(f"/api/tasks/{task_id}", method=method, json={"done": True})
        assert resp.status_code == 404, (method, resp.get_json())
        assert resp.get_json()["error"].endswith("not found")


def test_unknown_routes_and_methods_are_json_4xx(client: FlaskClient) -> None:
    resp = client.get("/api/nothing")
    assert resp.status_code == 404 and resp.is_json
    resp = client.put("/api/tasks", json={"title": "x"})
    assert resp.status_code == 405 and "POST" in resp.headers["Allow"] and resp.is_json
    resp = client.open("/api/tasks", method="BREW")
    assert resp.status_code == 405 and "GET" in resp.headers["Allow"]
    assert metric(client, "flask_http_request_total", method="BREW") == 0


# -- predictor degraded -----------------------------------------------------------


def _app_with_predictor(settings: Settings, faults: FaultController, url: str, timeout=0.3):
    cfg = Settings(db_path=settings.db_path, predictor_url=url, predictor_timeout=timeout)
    return create_app(cfg, faults=faults).test_client()


def test_predictor_down_creates_without_estimate(settings, faults) -> None:
    client = _app_with_predictor(settings, faults, closed_port_url())
    task = create(client, "urgent")
    assert (task["priority"], task["prediction_id"]) == (None, None)
    assert metric(client, "tasks_predictor_degraded_total", reason="unreachable") == 1
    assert metric(client, "create_task_total") == 1


def test_slow_predictor_is_abandoned_within_the_timeout(settings, faults, predictor) -> None:
    predictor.mode, predictor.delay = "slow", 2.0
    client = _app_with_predictor(settings, faults, predictor.url, timeout=0.2)
    started = time.monotonic()
    task = create(client)
    assert time.monotonic() - started < 0.8
    assert task["priority"] is None
    assert metric(client, "tasks_predictor_degraded_total", reason="timeout") == 1


@pytest.mark.parametrize("mode", ["error", "garbage"])
def test_predictor_errors_are_degraded_not_fatal(client, predictor, mode) -> None:
    predictor.mode = mode
    assert create(client)["priority"] is None
    assert metric(client, "tasks_predictor_degraded_total", reason="error") == 1


def test_predictor_unreachable_fault(client, predictor) -> None:
    assert client.put("/admin/faults", json={"predictor_unreachable": True},
                      headers=AUTH).status_code == 200  # fmt: skip
    task = create(client)
    assert task["priority"] is None and predictor.requests == []
    assert metric(client, "tasks_predictor_degraded_total", reason="fault") == 1
    client.patch(f"/api/tasks/{task['id']}", json={"true_priority": "low"}, headers=TRUTH)
    assert predictor.requests == []


def test_feedback_failure_never_fails_the_patch(client, predictor) -> None:
    task = create(client)
    predictor.mode = "error"
    resp = client.patch(f"/api/tasks/{task['id']}", json={"true_priority": "medium"}, headers=TRUTH)
    assert resp.status_code == 200 and resp.get_json()["true_priority"] == "medium"
    assert metric(client, "tasks_feedback_degraded_total", reason="error") == 1


# -- store outage -----------------------------------------------------------------


def test_store_outage_fault_gives_503_then_recovers(client: FlaskClient) -> None:
    task = create(client)
    assert client.put("/admin/faults", json={"store_outage": True}, headers=AUTH).status_code == 200
    for resp in (
        client.get("/api/tasks"),
        client.post("/api/tasks", json={"title": "lost?"}),
        client.get(f"/api/tasks/{task['id']}"),
        client.patch(f"/api/tasks/{task['id']}", json={"done": True}),
        client.delete(f"/api/tasks/{task['id']}"),
    ):
        assert resp.status_code == 503
        assert "store unavailable" in resp.get_json()["error"]
        assert resp.headers["Retry-After"] == "1"
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    assert metric(client, "tasks_store_unavailable_total") == 5
    assert metric(client, "slolab_fault_active", fault="store_outage") == 1
    client.delete("/admin/faults", headers=AUTH)
    assert client.get("/readyz").status_code == 200
    listing = client.get("/api/tasks").get_json()
    assert [t["id"] for t in listing["items"]] == [task["id"]]  # nothing lost, nothing added
    assert metric(client, "create_task_total") == 1


def test_real_store_failure_gives_503_and_recovers(settings, faults, tmp_path) -> None:
    blocker = tmp_path / "gone"
    blocker.write_text("not a folder")
    cfg = Settings(db_path=blocker / "t.sqlite3", predictor_url=settings.predictor_url)
    client = create_app(cfg, faults=faults).test_client()
    started = time.monotonic()
    assert client.post("/api/tasks", json={"title": "x"}).status_code == 503
    assert time.monotonic() - started < 1.0
    assert client.get("/readyz").get_json()["status"] == "unavailable"
    blocker.unlink()
    assert client.get("/readyz").status_code == 200
    create(client)


def test_mongo_store_unreachable_answers_503_fast(faults, predictor) -> None:
    from slolab.lab.procs import free_port

    url = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    cfg = Settings(db_path=None, mongo_url=url, store_timeout=0.5, predictor_url=predictor.url)  # type: ignore[arg-type]
    client = create_app(cfg, faults=faults).test_client()
    started = time.monotonic()
    resp = client.get("/api/tasks")
    assert resp.status_code == 503 and "mongodb" in resp.get_json()["error"]
    assert time.monotonic() - started < 1.5
    assert client.get("/readyz").get_json()["store"] == "mongodb"


# -- injected errors and latency --------------------------------------------------


def test_error_rate_fault_hits_the_api_only(client: FlaskClient) -> None:
    client.put("/admin/faults", json={"error_rate": 1.0}, headers=AUTH)
    resp = client.get("/api/tasks")
    assert resp.status_code == 500 and resp.get_json() == {"error": "injected fault"}
    assert client.post("/api/tasks", json={"title": "x"}).status_code == 500
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert client.get(path).status_code == 200
    assert metric(client, "flask_http_request_total", method="GET", status="500") == 1
    assert metric(client, "create_task_total") == 0
    client.delete("/admin/faults", headers=AUTH)
    assert client.get("/api/tasks").status_code == 200


def test_latency_fault_is_added_and_measured(client: FlaskClient) -> None:
    client.put("/admin/faults", json={"latency_ms": 300}, headers=AUTH)
    started = time.monotonic()
    assert client.get("/api/tasks").status_code == 200
    assert time.monotonic() - started >= 0.3
    labels = {"method": "GET", "path": "/api/tasks", "status": "200"}
    fast = metric(client, "flask_http_request_duration_seconds_bucket", le="0.25", **labels)
    slow = metric(client, "flask_http_request_duration_seconds_bucket", le="0.5", **labels)
    assert (fast, slow) == (0, 1)


# -- admin surface -----------------------------------------------------------------


def test_admin_is_disabled_without_a_token(settings, tmp_path) -> None:
    from slolab.faults import ALLOWED

    no_token = FaultController("tasks", ALLOWED["tasks"], tmp_path / "s2", None)
    client = create_app(settings, faults=no_token).test_client()
    for method in ("GET", "PUT", "DELETE"):
        resp = client.open("/admin/faults", method=method, json={"error_rate": 1}, headers=AUTH)
        assert resp.status_code == 404
    assert client.get("/api/tasks").status_code == 200


def test_admin_refuses_a_wrong_token(client: FlaskClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        resp = client.put("/admin/faults", json={"error_rate": 1}, headers=headers)
        assert resp.status_code == 401 and "WWW-Authenticate" in resp.headers
    assert client.get("/api/tasks").status_code == 200


def test_admin_rejects_faults_of_the_other_service(client: FlaskClient) -> None:
    resp = client.put("/admin/faults", json={"model_drift": True}, headers=AUTH)
    assert resp.status_code == 422 and "model_drift" in resp.get_json()["error"]


# -- operations, metrics, OpenAPI -------------------------------------------------


def test_metrics_label_the_url_rule_and_skip_probes(client: FlaskClient) -> None:
    task = create(client)
    client.get(f"/api/tasks/{task['id']}")
    client.get(f"/api/tasks/{'0' * 24}")
    client.get("/api/does/not/exist")
    for _ in range(3):
        client.get("/healthz"), client.get("/readyz")
    text = client.get("/metrics").get_data(as_text=True)
    assert task["id"] not in text and "0" * 24 not in text
    rule = {"method": "GET", "path": "/api/tasks/<task_id>"}
    assert metric(client, "flask_http_request_duration_seconds_count", status="200", **rule) == 1
    assert metric(client, "flask_http_request_duration_seconds_count", status="404", **rule) == 1
    assert "/api/does/not/exist" not in text
    assert 'path="/healthz"' not in text and 'path="/readyz"' not in text
    assert 'path="/metrics"' not in text
    assert 'le="0.2"' in text and 'le="0.005"' in text and 'le="10.0"' in text


def test_openapi_document_describes_every_route(client: FlaskClient, app: Flask) -> None:
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    documented = {
        (path.replace("{task_id}", "<task_id>"), method.upper())
        for path, ops in doc["paths"].items()
        for method in ops
        if method != "parameters"
    }
    served = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert served == documented
    refs = {m for m in json.dumps(doc).split('"') if m.startswith("#/components/schemas/")}
    assert {r.rsplit("/", 1)[1] for r in refs} <= set(doc["components"]["schemas"])
    create_op = doc["paths"]["/api/tasks"]["post"]
    assert set(create_op["responses"]) >= {"201", "400", "413", "415", "422", "503"}
