import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from slolab.faults import ALLOWED, FaultController, parse_faults_env


@pytest.fixture
def ctl(tmp_path: Path) -> FaultController:
    return FaultController("tasks", ALLOWED["tasks"], tmp_path, "s3cret")


def auth(token: str = "s3cret") -> str:
    return f"Bearer {token}"


def gauge(fault: str) -> float | None:
    return REGISTRY.get_sample_value("slolab_fault_active", {"fault": fault})


def test_faults_are_off_by_default(ctl: FaultController) -> None:
    assert not ctl.current().any_active()
    assert not ctl.should_fail()
    assert ctl.delay_seconds() == 0
    assert gauge("error_rate") == 0


def test_admin_disabled_without_token(tmp_path: Path) -> None:
    ctl = FaultController("tasks", ALLOWED["tasks"], tmp_path, None)
    status, body = ctl.handle_admin("PUT", "Bearer anything", b'{"error_rate": 1}')
    assert status == 404 and "disabled" in body["error"]
    assert not ctl.current().any_active()


@pytest.mark.parametrize("header", [None, "", "Bearer wrong", "Basic s3cret", "s3cret"])
def test_admin_refuses_bad_tokens(ctl: FaultController, header: str | None) -> None:
    status, _ = ctl.handle_admin("PUT", header, b'{"error_rate": 1}')
    assert status == 401
    assert ctl.current().error_rate == 0


def test_set_is_seen_by_other_workers_and_gauged(ctl: FaultController, tmp_path: Path) -> None:
    status, body = ctl.handle_admin("PUT", auth(), b'{"error_rate": 1, "latency_ms": 250}')
    assert status == 200 and body["active"] == ["error_rate", "latency_ms"]
    other = FaultController("tasks", ALLOWED["tasks"], tmp_path, "s3cret")  # another worker
    assert other.should_fail()
    assert other.delay_seconds() == 0.25
    assert gauge("error_rate") == 1
    status, body = other.handle_admin("DELETE", auth(), None)
    assert status == 200 and body["active"] == []
    assert not ctl.should_fail()
    assert gauge("error_rate") == 0


def test_partial_update_keeps_other_faults(ctl: FaultController) -> None:
    ctl.update({"store_outage": True})
    ctl.update({"latency_ms": 10})
    faults = ctl.current()
    assert faults.store_outage and faults.latency_ms == 10


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"not json", 400, "JSON"),
        (b"[1, 2]", 422, "object"),
        (b'{"error_rate": 2}', 422, "error_rate"),
        (b'{"latency_ms": -1}', 422, "latency_ms"),
        (b'{"model_drift": true}', 422, "model_drift"),
        (b'{"bogus": 1}', 422, "bogus"),
        (b'{"expires_in_s": 0}', 422, "expires_in_s"),
        (b'{"store_outage": "maybe"}', 422, "store_outage"),
        (b"{" + b" " * 5000 + b"}", 413, "bytes"),
    ],
)
def test_bad_updates_are_refused_with_the_field(
    ctl: FaultController, body: bytes, status: int, needle: str
) -> None:
    got, payload = ctl.handle_admin("PUT", auth(), body)
    assert got == status
    assert needle in payload["error"]
    assert not ctl.current().any_active()


def test_faults_expire_by_themselves(ctl: FaultController) -> None:
    ctl.update({"error_rate": 1, "expires_in_s": 0.2})
    assert ctl.should_fail()
    time.sleep(0.3)
    assert not ctl.should_fail()
    assert not ctl.current().any_active()


def test_error_rate_is_a_probability(ctl: FaultController) -> None:
    ctl.update({"error_rate": 0.3})
    fails = sum(ctl.should_fail() for _ in range(4000))
    assert 900 < fails < 1500


def test_start_up_faults_from_env_apply_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SLOLAB_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("SLOLAB_FAULTS", "error_rate=0.5,store_outage=true")
    first = FaultController.from_env("tasks")
    assert first.current().error_rate == 0.5 and first.current().store_outage
    first.update({"error_rate": 0})
    restarted_worker = FaultController.from_env("tasks")
    assert restarted_worker.current().error_rate == 0


def test_bad_env_faults_name_the_problem(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SLOLAB_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("SLOLAB_FAULTS", "model_drift=true")
    with pytest.raises(ValueError, match="model_drift"):
        FaultController.from_env("tasks")
    with pytest.raises(ValueError, match="name=value"):
        parse_faults_env("error_rate")


def test_torn_state_file_is_ignored(ctl: FaultController) -> None:
    ctl.path.write_text("{half")
    assert not ctl.current().any_active()
