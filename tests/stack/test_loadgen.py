"""The Locust load generator: shape schedules, fault driving, and a real short run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen import shapes, workload
from loadgen.faults import FaultClient
from tests.stack.fake_services import FakeService

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

ROOT = Path(__file__).resolve().parents[2]


def _shape(cls, token: str | None = None, urls=None, **settings):
    s = shapes.Settings(admin_token=token, **settings)
    faults = FaultClient(urls or {"tasks": "http://127.0.0.1:9", "predictor": "http://127.0.0.1:9"},
                         token, timeout=0.5)  # fmt: skip
    return cls(settings=s, faults=faults), faults


def _ticks(shape, times, limit=None):
    return [shape.tick(t, limit) for t in times]


def test_select_and_unknown_scenario() -> None:
    assert shapes.select(None) is shapes.Steady
    assert shapes.select("budget-burn") is shapes.BudgetBurn
    assert set(shapes.SCENARIOS) == {"steady", "ramp", "spike", "budget-burn", "chaos"}
    with pytest.raises(ValueError, match="SCENARIO must be one of"):
        shapes.select("tsunami")


def test_settings_from_env_validate() -> None:
    s = shapes.Settings.from_env({"LOAD_USERS": "7", "TASKS_URL": "http://t:1/", "CHAOS_SEED": "3"})
    assert (s.users, s.tasks_url, s.chaos_seed, s.admin_token) == (7, "http://t:1", 3, None)
    with pytest.raises(ValueError, match="LOAD_USERS must be at least 1"):
        shapes.Settings.from_env({"LOAD_USERS": "0"})
    with pytest.raises(ValueError, match="BURN_ERROR_RATE must be at most 1"):
        shapes.Settings.from_env({"BURN_ERROR_RATE": "2"})


def test_steady_ramp_spike_sequences() -> None:
    steady, _ = _shape(shapes.Steady, users=4, spawn_rate=2)
    assert _ticks(steady, [0, 100, 10_000]) == [(4, 2), (4, 2), (4, 2)]

    ramp, _ = _shape(shapes.Ramp, users=10, spawn_rate=2)
    users = [u for u, _ in _ticks(ramp, [0, 75, 150, 299, 300, 900])]
    assert users == [1, 8, 15, 30, 30, 30]
    assert users == sorted(users)

    spike, _ = _shape(shapes.Spike, users=3)
    users = [u for u, _ in _ticks(spike, [0, 119, 120, 149, 150, 300, 330])]
    assert users == [3, 3, 15, 15, 3, 15, 3]


def test_run_time_limit_ends_the_shape() -> None:
    steady, _ = _shape(shapes.Steady)
    assert _ticks(steady, [4.9, 5.0], limit=5.0) == [(10, 2.0), None]


def test_budget_burn_switches_fault_on_then_off() -> None:
    with FakeService("tasks", token="s3cret") as tasks:
        burn, faults = _shape(
            shapes.BudgetBurn, token="s3cret", urls={"tasks": tasks.url, "predictor": tasks.url},
            users=5, burn_start_s=10, burn_duration_s=20, burn_error_rate=0.5,
        )  # fmt: skip
        users = _ticks(burn, [0, 9, 10, 11, 29, 30, 31, 100])
    assert {u for u, _ in users} == {5}
    admin = [(m, b) for m, p, _, b in tasks.requests if p == "/admin/faults"]
    assert admin == [("PUT", {"error_rate": 0.5, "expires_in_s": 20}), ("DELETE", None)]
    assert all(ok for *_, ok in faults.calls)
    auth = [h.get("Authorization") for m, p, h, _ in tasks.requests if p == "/admin/faults"]
    assert auth == ["Bearer s3cret"] * 2


def test_fault_failures_are_logged_not_raised(caplog) -> None:
    burn, faults = _shape(shapes.BudgetBurn, token="x", burn_start_s=0)
    assert _ticks(burn, [0]) == [(10, 2.0)]  # port 9: refused, load goes on
    assert faults.calls[0][-1] is False
    no_token, faults = _shape(shapes.BudgetBurn, token=None, burn_start_s=0)
    assert _ticks(no_token, [0, 1]) == [(10, 2.0)] * 2
    assert "SLOLAB_ADMIN_TOKEN is not set" in caplog.text


def test_chaos_spells_are_allowed_short_and_repeatable() -> None:
    def run(seed: int) -> list:
        chaos, faults = _shape(shapes.Chaos, token=None, chaos_seed=seed)
        _ticks(chaos, range(0, 3600, 5))
        return [(svc, body) for _, svc, body, _ in faults.calls]

    spells = run(1)
    assert len(spells) >= 10 and spells == run(1) and spells != run(2)
    for service, body in spells:
        (fault,) = set(body) - {"expires_in_s"}
        assert fault in shapes.CHAOS_FAULTS[service]
        assert 0 < body["expires_in_s"] <= 90  # every fault ends by itself


def test_ground_truth_rule() -> None:
    urgent = workload.TaskDraft("URGENT: fix the build", 0.5, 2)
    assert workload.features(urgent)["urgent_words"] == 2
    assert workload.true_priority(workload.features(urgent)) == "high"
    relaxed = workload.TaskDraft("Plan the roadmap", 30, 2)
    assert workload.true_priority(workload.features(relaxed)) == "low"


def test_ground_truth_matches_what_the_model_learnt() -> None:
    """Normal load must meet the 85% accuracy SLO: the model agrees with loadgen's truth."""
    import random as _random

    from slolab.services.predictor import model
    from slolab.services.tasks.predictor_client import URGENT_WORDS

    assert workload._LOW_HIGH == model.LOW_HIGH
    assert set(workload.URGENT_WORDS) == set(URGENT_WORDS)
    trained = model.train()
    rng = _random.Random(7)
    drafts = [workload.draft_task(rng) for _ in range(1500)]
    agree = 0
    for draft in drafts:
        feat = workload.features(draft)
        label, _ = trained.predict([feat[name] for name in model.FEATURES])
        agree += label == workload.true_priority(feat)
    assert agree / len(drafts) >= 0.9
    drifted = sum(
        model.drifted(trained.predict([workload.features(d)[n] for n in model.FEATURES])[0])
        == workload.true_priority(workload.features(d))
        for d in drafts[:300]
    )
    assert drifted / 300 < 0.5  # the drift fault does break the SLO


@pytest.mark.timeout(90)
def test_locust_headless_run_against_fake_services(tmp_path: Path) -> None:
    """A real budget-burn run: traffic on every endpoint, no failure, fault on and off."""
    with FakeService("tasks", "tok") as tasks, FakeService("predictor", "tok") as predictor:
        env = {
            **os.environ,
            "SCENARIO": "budget-burn", "TASKS_URL": tasks.url, "PREDICTOR_URL": predictor.url,
            "SLOLAB_ADMIN_TOKEN": "tok", "LOAD_USERS": "4", "LOAD_SPAWN_RATE": "4",
            "BURN_START_S": "2", "BURN_DURATION_S": "3",
        }  # fmt: skip
        run = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "loadgen" / "locustfile.py"),
             "--headless", "-t", "8s", "--only-summary", "--json", "--host", tasks.url,
             "--stop-timeout", "2"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    stats = {(s["method"], s["name"]): s for s in json.loads(run.stdout)}
    assert sum(s["num_requests"] for s in stats.values()) >= 10
    assert sum(s["num_failures"] for s in stats.values()) == 0, stats
    assert ("POST", "/api/tasks") in stats and ("POST", "/predict") in stats
    admin = [(m, b) for m, p, _, b in tasks.requests if p == "/admin/faults"]
    assert admin[0] == ("PUT", {"error_rate": 0.2, "expires_in_s": 3.0})
    assert admin[1] == ("DELETE", None)
    synthetic = [h.get("baggage") for m, p, h, _ in tasks.requests + predictor.requests
                 if p != "/admin/faults"]  # fmt: skip
    assert synthetic and all(b == "synthetic_request=true" for b in synthetic)


@pytest.mark.parametrize(
    "env",
    [{"SLOLAB_ADMIN_TOKEN": "adm"}, {"SLOLAB_FEEDBACK_TOKEN": "fb", "SLOLAB_ADMIN_TOKEN": "adm"},
     {"SLOLAB_FEEDBACK_TOKEN": " fb "}, {}],
)  # fmt: skip
def test_locust_labels_with_the_services_feedback_credential(env) -> None:
    """Locust's image has no slolab: its derivation must stay the services' own."""
    from loadgen.faults import labeler_headers
    from slolab.faults import feedback_token

    token = feedback_token(env)
    assert labeler_headers(env) == ({"Authorization": f"Bearer {token}"} if token else {})
