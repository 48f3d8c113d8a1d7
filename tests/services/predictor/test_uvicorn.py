"""One real uvicorn process (uvloop + httptools) on a free loopback port: exemplars on /metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as parse_text

from tests.conftest import free_port
from tests.services.predictor.conftest import FEATURES

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.timeout(90)


def start(tmp_path: Path, **extra: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        SLOLAB_STATE_DIR=str(tmp_path / "state"),
        PREDICTOR_RETRAIN_INTERVAL_S="0",
        LOG_LEVEL="WARNING",
        # Spans are recorded and sampled (trace ids for exemplars), never exported.
        OTEL_TRACES_EXPORTER="none",
        **extra,
    )
    log = tmp_path / "predictor.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "services.predictor.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
             "--no-access-log"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"predictor exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url, log
        except httpx.HTTPError:
            time.sleep(0.1)
    stop(proc)
    raise AssertionError(f"predictor not ready: {log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    proc, url, log = start(tmp_path)
    try:
        yield url, log
    finally:
        stop(proc)
    # A graceful shutdown (uvicorn re-raises SIGTERM when it exits, hence -15).
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert "Application shutdown complete" in log.read_text()


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
    proc, url, _ = start(tmp_path, OTEL_SDK_DISABLED="true")
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
        stop(proc)


def test_two_workers_sum_their_counts_in_multiprocess_mode(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # serve.py makes a fresh one for 2 workers
    env.update(
        PREDICTOR_HOST="127.0.0.1", PREDICTOR_PORT=str(port), PREDICTOR_WORKERS="2",
        SLOLAB_STATE_DIR=str(tmp_path / "state"), PREDICTOR_RETRAIN_INTERVAL_S="0",
        LOG_LEVEL="WARNING", OTEL_TRACES_EXPORTER="none",
    )  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "slolab", "serve", "predictor"], cwd=REPO, env=env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
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
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
