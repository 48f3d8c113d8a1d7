"""The predictor API in-process (httpx over ASGI): behaviour, bad input, metrics, faults, admin."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from slolab.faults import ALLOWED, FaultController
from slolab.services.predictor.app import create_app
from slolab.services.predictor.config import Settings
from slolab.services.predictor.model import LABELS, generate
from slolab.services.predictor.service import STALE_MODEL_AGE_S
from tests.services.predictor.conftest import (
    AUTH,
    FEATURES,
    FEEDBACK_AUTH,
    FEEDBACK_TOKEN,
    TOKEN,
    metric,
)

pytestmark = pytest.mark.anyio


async def predict(client: httpx.AsyncClient, **override) -> dict:
    resp = await client.post("/predict", json={**FEATURES, **override})
    assert resp.status_code == 200, resp.text
    return resp.json()


# -- happy paths -----------------------------------------------------------------------


async def test_predict_answers_a_label_with_its_probability(client: httpx.AsyncClient) -> None:
    body = await predict(client)
    assert set(body) == {"prediction_id", "label", "probability", "model_version"}
    assert body["label"] in LABELS and 0 < body["probability"] <= 1
    assert len(body["prediction_id"]) == 32 and int(body["prediction_id"], 16) >= 0
    model = (await client.get("/model")).json()
    assert body["model_version"] == model["version"]
    assert (await predict(client, urgent_words=4, due_in_days=0))["label"] == "high"
    assert (await predict(client, urgent_words=0, due_in_days=900))["label"] == "low"
    assert await metric(client, "predictor_predictions_total", label="high") >= 1


async def test_model_describes_the_served_model(client: httpx.AsyncClient) -> None:
    before = time.time()
    body = (await client.get("/model")).json()
    assert body["version"].startswith("lr-") and body["accuracy"] >= 0.85
    assert body["n_train"] > 0 and body["n_feedback"] == 0
    assert before - 60 < body["trained_at"] <= time.time()
    assert await metric(client, "model_last_trained_timestamp_seconds") == body["trained_at"]
    assert await metric(client, "model_info", version=body["version"]) == 1


async def test_feedback_moves_the_accuracy_counters_once(client: httpx.AsyncClient) -> None:
    high = await predict(client, urgent_words=4, due_in_days=0)
    body = {"prediction_id": high["prediction_id"], "true_label": "high"}
    resp = await client.post("/feedback", headers=FEEDBACK_AUTH, json=body)
    assert resp.status_code == 200 and resp.json() == {"correct": True, "duplicate": False}
    low = await predict(client, urgent_words=0, due_in_days=900)
    wrong = {"prediction_id": low["prediction_id"], "true_label": "high"}
    assert (await client.post("/feedback", headers=FEEDBACK_AUTH, json=wrong)).json()[
        "correct"
    ] is False
    # A retry of the same feedback is answered the same and not counted again.
    again = await client.post("/feedback", headers=FEEDBACK_AUTH, json=wrong)
    assert again.status_code == 200 and again.json() == {"correct": False, "duplicate": True}
    assert await metric(client, "predictor_feedback_total") == 2
    assert await metric(client, "predictor_feedback_correct_total") == 1


async def test_conflicting_feedback_is_refused(client: httpx.AsyncClient) -> None:
    pid = (await predict(client))["prediction_id"]
    await client.post(
        "/feedback", headers=FEEDBACK_AUTH, json={"prediction_id": pid, "true_label": "low"}
    )
    resp = await client.post(
        "/feedback", headers=FEEDBACK_AUTH, json={"prediction_id": pid, "true_label": "high"}
    )
    assert resp.status_code == 409 and resp.json()["field"] == "true_label"
    assert await metric(client, "predictor_feedback_total") == 1


async def test_unknown_or_forgotten_prediction_is_404(
    settings: Settings, faults: FaultController, monkeypatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app = create_app(
        Settings(retrain_interval_s=0, max_tracked=2, feedback_token=FEEDBACK_TOKEN), faults=faults
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://p") as c:
        first = (await predict(c))["prediction_id"]
        await predict(c)
        await predict(c)  # pushes the first one out
        for pid in (first, "0" * 32):
            resp = await c.post(
                "/feedback", headers=FEEDBACK_AUTH, json={"prediction_id": pid, "true_label": "low"}
            )
            assert resp.status_code == 404 and resp.json()["field"] == "prediction_id"
        assert await metric(c, "predictor_feedback_total") == 0


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "model_version": None}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["model_version"].startswith("lr-")


# -- hostile input ---------------------------------------------------------------------

BAD_FEATURES = [
    ("title_length", 0), ("title_length", 501), ("title_length", 2.5), ("title_length", "20"),
    ("title_length", True), ("title_length", None),
    ("urgent_words", -1), ("urgent_words", 51), ("urgent_words", "1"),
    ("due_in_days", -0.1), ("due_in_days", 3650.5), ("due_in_days", "soon"),
    ("due_in_days", [1]),
    ("estimated_hours", -1), ("estimated_hours", 1000.1), ("estimated_hours", {"h": 1}),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value"), BAD_FEATURES)
async def test_bad_feature_is_422_naming_the_field(
    client: httpx.AsyncClient, field: str, value
) -> None:
    resp = await client.post("/predict", json={**FEATURES, field: value})
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == field and field in resp.json()["error"]


@pytest.mark.parametrize("field", list(FEATURES))
async def test_missing_feature_is_422(client: httpx.AsyncClient, field: str) -> None:
    body = {k: v for k, v in FEATURES.items() if k != field}
    resp = await client.post("/predict", json=body)
    assert resp.status_code == 422 and resp.json()["field"] == field


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"{", 400), (b"", 422), (b"[]", 422), (b"null", 422), (b'"x"', 422),
        (b'{"title_length": 1e999, "urgent_words": 0, "due_in_days": 1, '
         b'"estimated_hours": 1}', 422),
        # Python's JSON parser reads NaN; the model refuses it by name.
        (b'{"title_length": 5, "urgent_words": 0, "due_in_days": NaN, "estimated_hours": 1}', 422),
        (b"\xff\xfe", 400),
    ],
)  # fmt: skip
async def test_malformed_bodies_are_4xx(client: httpx.AsyncClient, content: bytes, status) -> None:
    resp = await client.post(
        "/predict", content=content, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == status, resp.text
    assert "error" in resp.json()


async def test_extra_fields_are_refused(client: httpx.AsyncClient) -> None:
    resp = await client.post("/predict", json={**FEATURES, "priority": "high"})
    assert resp.status_code == 422 and resp.json()["field"] == "priority"


@pytest.mark.parametrize(
    "body",
    [
        {"prediction_id": "not-hex", "true_label": "low"},
        {"prediction_id": "A" * 32, "true_label": "low"},
        {"prediction_id": "a" * 33, "true_label": "low"},
        {"prediction_id": 12, "true_label": "low"},
        {"prediction_id": "a" * 32, "true_label": "urgent"},
        {"prediction_id": "a" * 32, "true_label": None},
        {"prediction_id": "a" * 32},
        {"prediction_id": "a" * 32, "true_label": "low", "extra": 1},
    ],
)
async def test_bad_feedback_is_422(client: httpx.AsyncClient, body: dict) -> None:
    resp = await client.post("/feedback", headers=FEEDBACK_AUTH, json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] in {"prediction_id", "true_label", "extra"}


async def test_bodies_over_the_limit_get_413(client: httpx.AsyncClient) -> None:
    big = b'{"title_length": 1, "pad": "' + b"x" * 70_000 + b'"}'
    resp = await client.post("/predict", content=big, headers={"Content-Type": "application/json"})
    assert resp.status_code == 413 and resp.json()["field"] == "body"

    async def chunks():  # no Content-Length: counted while reading
        for _ in range(20):
            yield b"x" * 4096

    resp = await client.post("/predict", content=chunks())
    assert resp.status_code == 413
    assert await metric(client, "http_requests_total", handler="/predict", status="413") == 2


async def test_unknown_paths_and_methods(client: httpx.AsyncClient) -> None:
    resp = await client.get("/predict/123")
    assert resp.status_code == 404 and resp.json() == {"error": "not found"}
    assert (await client.get("/predict")).status_code == 405
    assert (await client.request("BREW", "/predict")).status_code == 405
    text = (await client.get("/metrics")).text
    assert 'handler="none"' in text and 'handler="/predict/123"' not in text  # bounded labels
    assert "BREW" not in text


# -- metrics ---------------------------------------------------------------------------


async def test_request_metrics_have_exact_status_and_slo_buckets(
    client: httpx.AsyncClient,
) -> None:
    await predict(client)
    await client.post("/predict", json={})
    await client.get("/healthz")
    await client.get("/readyz")
    assert await metric(client, "http_requests_total", handler="/predict", status="200") == 1
    assert await metric(client, "http_requests_total", handler="/predict", status="422") == 1
    assert await metric(
        client, "http_request_duration_seconds_count", handler="/predict", method="POST",
        status="200",
    ) == 1  # fmt: skip
    text = (await client.get("/metrics")).text
    for le in ("0.1", "0.2", "0.5"):
        assert f'le="{le}",method="POST",status="200"' in text
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert f'handler="{probe}"' not in text
    assert "slolab_fault_active" in text


async def test_metrics_negotiate_the_format(client: httpx.AsyncClient) -> None:
    await predict(client)
    om = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.endswith("# EOF\n")
    plain = await client.get("/metrics")
    assert plain.headers["content-type"].startswith("text/plain")
    assert "# EOF" not in plain.text
    odd = await client.get("/metrics", headers={"Accept": "application/openmetrics-text;version=x"})
    assert odd.status_code == 200


async def test_apps_in_one_process_keep_their_own_counts(
    faults: FaultController, monkeypatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    apps = [create_app(Settings(retrain_interval_s=0), faults=faults) for _ in range(2)]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(a), base_url="http://p") for a in apps
    ]
    await predict(clients[0])
    assert await metric(clients[0], "predictor_predictions_total") == 1
    assert await metric(clients[1], "predictor_predictions_total") == 0
    for c in clients:
        await c.aclose()


# -- faults ----------------------------------------------------------------------------


async def accuracy_from_feedback(client: httpx.AsyncClient, n: int = 200) -> float:
    """Predict ``n`` generated tasks and report their true labels; the SLI from /metrics."""
    x, y = generate(n, np.random.default_rng(4242))
    before_total = await metric(client, "predictor_feedback_total")
    before_good = await metric(client, "predictor_feedback_correct_total")
    for row, truth in zip(x, y, strict=True):
        body = await predict(
            client, title_length=int(row[0]), urgent_words=int(row[1]),
            due_in_days=float(row[2]), estimated_hours=float(row[3]),
        )  # fmt: skip
        resp = await client.post(
            "/feedback",
            headers=FEEDBACK_AUTH,
            json={"prediction_id": body["prediction_id"], "true_label": LABELS[truth]},
        )
        assert resp.status_code == 200
    total = await metric(client, "predictor_feedback_total") - before_total
    good = await metric(client, "predictor_feedback_correct_total") - before_good
    assert total == n
    return good / total


async def test_model_drift_drops_accuracy_below_the_objective(
    client: httpx.AsyncClient, faults: FaultController
) -> None:
    assert await accuracy_from_feedback(client) >= 0.85
    faults.update({"model_drift": True})
    assert await accuracy_from_feedback(client) < 0.5
    faults.clear()
    assert await accuracy_from_feedback(client) >= 0.85


async def test_stale_model_makes_freshness_fail(
    client: httpx.AsyncClient, faults: FaultController
) -> None:
    trained_at = (await client.get("/model")).json()["trained_at"]
    resp = await client.put("/admin/faults", json={"stale_model": True}, headers=AUTH)
    assert resp.status_code == 200 and resp.json()["active"] == ["stale_model"]
    age = time.time() - await metric(client, "model_last_trained_timestamp_seconds")
    assert age > 3600
    assert await metric(client, "model_last_trained_timestamp_seconds") == pytest.approx(
        trained_at - STALE_MODEL_AGE_S
    )
    assert await metric(client, "slolab_fault_active", fault="stale_model") == 1
    await client.delete("/admin/faults", headers=AUTH)
    age = time.time() - await metric(client, "model_last_trained_timestamp_seconds")
    assert age < 3600


async def test_error_rate_answers_500_on_api_routes_only(
    client: httpx.AsyncClient, faults: FaultController
) -> None:
    faults.update({"error_rate": 1.0})
    resp = await client.post("/predict", json=FEATURES)
    assert resp.status_code == 500 and resp.json() == {"error": "injected fault"}
    assert (await client.get("/model")).status_code == 500
    resp = await client.post(
        "/feedback", headers=FEEDBACK_AUTH, json={"prediction_id": "a" * 32, "true_label": "low"}
    )
    assert resp.status_code == 500
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.get("/admin/faults", headers=AUTH)).status_code == 200
    assert await metric(client, "http_requests_total", handler="/predict", status="500") == 1
    assert await metric(client, "predictor_predictions_total") == 0


async def test_latency_is_added_without_blocking_other_requests(
    client: httpx.AsyncClient, faults: FaultController
) -> None:
    import asyncio

    faults.update({"latency_ms": 300})
    started = time.perf_counter()
    slow = asyncio.create_task(client.post("/predict", json=FEATURES))
    await asyncio.sleep(0.05)
    assert (await client.get("/healthz")).status_code == 200
    assert time.perf_counter() - started < 0.25  # answered while /predict still waits
    assert (await slow).status_code == 200
    assert time.perf_counter() - started >= 0.3
    assert await metric(
        client, "http_request_duration_seconds_bucket", handler="/predict", le="0.25"
    ) == 0  # fmt: skip


# -- admin surface ---------------------------------------------------------------------


async def test_admin_disabled_without_a_token(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    off = FaultController("predictor", ALLOWED["predictor"], tmp_path / "off", None)
    app = create_app(Settings(retrain_interval_s=0), faults=off)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://p") as c:
        assert (await c.get("/admin/faults", headers=AUTH)).status_code == 404
        assert (await c.post("/model/retrain", headers=AUTH)).status_code == 404


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
async def test_admin_refuses_a_wrong_token(client: httpx.AsyncClient, headers) -> None:
    for method, path in (("GET", "/admin/faults"), ("PUT", "/admin/faults"),
                         ("DELETE", "/admin/faults"), ("POST", "/model/retrain")):  # fmt: skip
        resp = await client.request(method, path, headers=headers, json={})
        assert resp.status_code == 401, (method, path)
        assert resp.headers["www-authenticate"].startswith("Bearer")


async def test_admin_sets_and_clears_predictor_faults(client: httpx.AsyncClient) -> None:
    resp = await client.put("/admin/faults", json={"model_drift": True, "latency_ms": 5},
                            headers=AUTH)  # fmt: skip
    assert resp.status_code == 200
    assert resp.json()["active"] == ["latency_ms", "model_drift"]
    bad = await client.put("/admin/faults", json={"store_outage": True}, headers=AUTH)
    assert bad.status_code == 422 and "store_outage" in bad.json()["error"]
    resp = await client.delete("/admin/faults", headers=AUTH)
    assert resp.status_code == 200 and resp.json()["active"] == []


async def test_retrain_updates_version_time_and_gauges(client: httpx.AsyncClient) -> None:
    old = (await client.get("/model")).json()
    resp = await client.post("/model/retrain", headers=AUTH)
    assert resp.status_code == 200
    same = resp.json()
    # Same seed, no feedback: the same model, trained again.
    assert same["version"] == old["version"] and same["trained_at"] > old["trained_at"]
    resp = await client.post("/model/retrain", json={"seed": 7}, headers=AUTH)
    new = resp.json()
    assert resp.status_code == 200 and new["version"] != old["version"] and new["seed"] == 7
    assert (await client.get("/model")).json() == new
    assert (await predict(client))["model_version"] == new["version"]
    assert await metric(client, "model_info", version=new["version"]) == 1
    assert await metric(client, "model_info", version=old["version"]) == 0
    assert await metric(client, "model_last_trained_timestamp_seconds") == new["trained_at"]


async def test_retrain_learns_from_feedback(client: httpx.AsyncClient) -> None:
    pid = (await predict(client))["prediction_id"]
    await client.post(
        "/feedback", headers=FEEDBACK_AUTH, json={"prediction_id": pid, "true_label": "low"}
    )
    with_fb = (await client.post("/model/retrain", headers=AUTH)).json()
    assert with_fb["n_feedback"] == 1
    without = await client.post("/model/retrain", json={"include_feedback": False}, headers=AUTH)
    assert without.json()["n_feedback"] == 0 and without.json()["version"] != with_fb["version"]


async def test_retrain_refuses_a_model_below_the_accuracy_gate(
    faults: FaultController, monkeypatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    # The served model scores ~0.91: a gate at 0.99 refuses every candidate.
    app = create_app(Settings(retrain_interval_s=0, min_accuracy=0.99), faults=faults)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://p") as c:
        before = (await c.get("/model")).json()
        resp = await c.post("/model/retrain", json={"seed": 3}, headers=AUTH)
        assert resp.status_code == 409 and "PREDICTOR_MIN_ACCURACY" in resp.json()["error"]
        assert (await c.get("/model")).json() == before
        assert await metric(c, "model_info", version=before["version"]) == 1


async def test_a_restart_rebuilds_the_retrained_model(
    faults: FaultController, tmp_path, monkeypatch
):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    settings = Settings(
        retrain_interval_s=0, model_dir=tmp_path / "model", feedback_token=FEEDBACK_TOKEN
    )
    app = create_app(settings, faults=faults)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://p") as c:
        pid = (await predict(c))["prediction_id"]
        await c.post(
            "/feedback", headers=FEEDBACK_AUTH, json={"prediction_id": pid, "true_label": "low"}
        )
        retrained = (await c.post("/model/retrain", json={"seed": 11}, headers=AUTH)).json()
    again = create_app(settings, faults=faults)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(again), base_url="http://p") as c:
        model = (await c.get("/model")).json()
    assert (model["version"], model["seed"], model["n_feedback"]) == (retrained["version"], 11, 1)
    # A damaged recipe is ignored: the default model is served.
    (tmp_path / "model" / "recipe.json").write_text("{not json")
    fallback = create_app(settings, faults=faults)
    assert fallback.state.predictor.model.seed == Settings().seed


async def test_the_schedule_keeps_the_model_fresh(faults: FaultController, monkeypatch) -> None:
    import asyncio

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app = create_app(Settings(retrain_interval_s=0.2), faults=faults)
    first = app.state.predictor.model
    async with app.router.lifespan_context(app):
        for _ in range(50):
            await asyncio.sleep(0.1)
            if app.state.predictor.model.trained_at > first.trained_at:
                break
    latest = app.state.predictor.model
    assert latest.trained_at > first.trained_at and latest.version == first.version
