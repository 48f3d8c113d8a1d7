"""One real uvicorn process (uvloop + httptools) on a free loopback port: exemplars on /metrics."""

from __future__ import annotations

import json
import signal
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as parse_text

from slolab.lab.procs import ManagedProcess, run_service, service_env, spawn
from tests.services.predictor.conftest import FEATURES

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

REPO = Path(__file__).resolve().parents[3]


def start(tmp_path: Path, **extra: str) -> tuple[ManagedProcess, str]:
    """``uvicorn`` itself (not ``slolab serve``) on a free port, ready: (process, URL)."""
    env = service_env(
        "predictor",
        tmp_path / "state",
        PREDICTOR_RETRAIN_INTERVAL_S="0",
        LOG_LEVEL="WARNING",
        # Spans are recorded and sampled (trace ids for exemplars), never exported.
        OTEL_TRACES_EXPORTER="none",
        **extra,
    )
    host, port = env["PREDICTOR_HOST"], env["PREDICTOR_PORT"]
    argv = [sys.executable, "-m", "uvicorn", "slolab.services.predictor.app:create_app",
            "--factory", "--host", host, "--port", port, "--loop", "uvloop", "--http", "httptools",
            "--no-access-log"]  # fmt: skip
    proc = spawn("predictor", argv, tmp_path / "predictor.log", env=env, cwd=REPO)
    url = f"http://{host}:{port}"
    try:
        proc.wait_ready(f"{url}/readyz")
    except BaseException:
        proc.stop()
        raise
    return proc, url


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    proc, url = start(tmp_path)
    try:
        yield url, proc.log_path
    finally:
        proc.stop()
    # A graceful shutdown (uvicorn re-raises SIGTERM when it exits, hence -15).
    assert proc.exited() in (0, -signal.SIGTERM), proc.log_tail(40)
    assert "Application shutdown complete" in proc.log_path.read_text()


def exemplars(text: str) -> list:
    found = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "http_request_duration_seconds_bucket" and s.exemplar is not None:
                found.append(s)
    return found


def test_openmetrics_scrape_carries_trace_exemplars(server: tuple[str, Path]) -> None:
    url, _ = server
    with httpx.Client(base_url=url, timeout=5) as c:
        for _ in range(5):
            assert c.post("/predict", json=FEATURES).status_code == 200
        om = c.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        plain = c.get("/metrics")
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    found = [s for s in exemplars(om.text) if s.labels["handler"] == "/predict"]
    assert found, om.text
    trace_id = found[0].exemplar.labels["trace_id"]
    assert len(trace_id) == 32 and int(trace_id, 16) != 0
    assert found[0].labels["status"] == "200"
    assert plain.headers["content-type"].startswith("text/plain")
    assert "trace_id" not in plain.text
    assert 'http_request_duration_seconds_bucket{handler="/predict"' in plain.text


def test_tracing_off_means_no_exemplars(tmp_path: Path) -> None:
    proc, url = start(tmp_path, OTEL_SDK_DISABLED="true")
    try:
        # urllib, not httpx: another test may have instrumented httpx in this process, and
        # a propagated traceparent would rightly give the server's spans a trace id.
        req = urllib.request.Request(
            f"{url}/predict", data=json.dumps(FEATURES).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200
        om = httpx.get(
            f"{url}/metrics", headers={"Accept": "application/openmetrics-text"}, timeout=5
        )
        assert om.status_code == 200 and not exemplars(om.text)
        assert 'handler="/predict"' in om.text
    finally:
        proc.stop()


def test_two_workers_sum_their_counts_in_multiprocess_mode(tmp_path: Path) -> None:
    # No PROMETHEUS_MULTIPROC_DIR given: serve.py makes a fresh one for 2 workers.
    with run_service(
        "predictor", tmp_path / "state", log=tmp_path / "serve.log", cwd=REPO,
        PREDICTOR_WORKERS="2", PREDICTOR_RETRAIN_INTERVAL_S="0", LOG_LEVEL="WARNING",
        OTEL_TRACES_EXPORTER="none",
    ) as svc:  # fmt: skip
        url = svc.url
        n = 40
        # A new connection each time, so that both workers take requests.
        for _ in range(n):
            assert httpx.post(f"{url}/predict", json=FEATURES, timeout=5).status_code == 200
        text = httpx.get(f"{url}/metrics", timeout=5).text
        predicted = sum(
            s.value for f in parse_text(text) for s in f.samples
            if s.name == "predictor_predictions_total"
        )  # fmt: skip
        assert predicted == n
        assert 'http_requests_total{handler="/predict",method="POST",status="200"} 40.0' in text
        assert "model_info{" in text and "process_cpu_seconds_total" in text
