"""The tasks service under each of its real servers (granian, the default, and
gunicorn), started as ``slolab serve tasks``: 2 workers, multiprocess metrics,
loopback."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from slolab.lab.procs import ServiceProcess, run_service
from slolab.serve import TASKS_SERVERS
from tests.otlp_sink import OTLPSink
from tests.reliability.services import metric_value
from tests.services.tasks.conftest import TOKEN
from tests.services.tasks.fake_predictor import FakePredictor

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

REPO = Path(__file__).resolve().parents[3]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
N = 200


@dataclass
class Server:
    svc: ServiceProcess
    mp_dir: Path

    @property
    def url(self) -> str:
        return self.svc.url

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(httpx.get(f"{self.url}/metrics", timeout=5).text, name, **labels)

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.svc.pid).children()

    def fresh(self) -> httpx.Client:
        # A new connection per request, so requests spread over the workers.
        return httpx.Client(base_url=self.url, timeout=10, headers={"Connection": "close"})


def _run(tmp_path: Path, server: str, **extra: str) -> AbstractContextManager[ServiceProcess]:
    """``slolab serve tasks`` under ``server`` with 2 workers, ready; stopped on exit."""
    return run_service(
        "tasks",
        tmp_path / "state",
        log=tmp_path / "server.log",
        cwd=REPO,
        TASKS_SERVER=server,
        TASKS_WORKERS="2",
        TASKS_DB_PATH=str(tmp_path / "tasks.sqlite3"),
        SLOLAB_ADMIN_TOKEN=TOKEN,
        LOG_LEVEL="WARNING",
        **extra,
    )


@pytest.fixture(params=TASKS_SERVERS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    mp = tmp_path / "metrics"
    mp.mkdir()
    (mp / "counter_99999.db").write_bytes(b"stale garbage from an earlier run")
    (mp / "keep.txt").write_text("not prometheus_client's")
    with (
        FakePredictor() as predictor,
        _run(tmp_path, request.param, PROMETHEUS_MULTIPROC_DIR=str(mp),
             PREDICTOR_URL=predictor.url) as svc,
    ):  # fmt: skip
        yield Server(svc, mp)


def test_start_wipes_stale_metric_files_only(server: Server) -> None:
    assert (server.mp_dir / "keep.txt").exists()
    assert not (server.mp_dir / "counter_99999.db").exists()
    assert len(server.workers()) == 2


def test_concurrent_creates_and_deletes_are_counted_exactly(server: Server) -> None:
    def create(i: int) -> tuple[int, str | None]:
        with server.fresh() as c:
            r = c.post("/api/tasks", json={"title": f"task {i} urgent"})
            return r.status_code, r.json().get("id")

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(create, range(N)))
    assert Counter(s for s, _ in results) == {201: N}
    ids = {i for _, i in results}
    assert len(ids) == N

    listed: set[str] = set()
    with httpx.Client(base_url=server.url, timeout=10) as c:
        for offset in range(0, N, 100):
            page = c.get("/api/tasks", params={"limit": 100, "offset": offset}).json()
            assert page["total"] == N
            listed |= {t["id"] for t in page["items"]}
    assert listed == ids

    for _ in range(4):  # whichever worker answers, the sum over both is served
        assert server.metric("create_task_total") == N
    assert server.metric("flask_http_request_total", method="POST", status="201") == N
    assert (
        server.metric("flask_http_request_duration_seconds_count", method="POST", path="/api/tasks")
        == N
    )

    def delete(task_id: str) -> int:
        with server.fresh() as c:
            return c.delete(f"/api/tasks/{task_id}").status_code

    with ThreadPoolExecutor(16) as pool:
        assert Counter(pool.map(delete, ids)) == {204: N}
    assert server.metric("delete_task_total") == N
    rule = {"method": "DELETE", "path": "/api/tasks/<task_id>", "status": "204"}
    assert server.metric("flask_http_request_duration_seconds_count", **rule) == N
    text = httpx.get(f"{server.url}/metrics").text
    assert not any(task_id in text for task_id in ids)  # the URL rule, never the raw path
    assert httpx.get(f"{server.url}/api/tasks").json()["total"] == 0


def test_faults_set_through_one_worker_apply_in_all(server: Server) -> None:
    with server.fresh() as c:
        assert c.put("/admin/faults", json={"error_rate": 1.0}, headers=AUTH).status_code == 200
    statuses = []
    for _ in range(20):
        with server.fresh() as c:
            statuses.append(c.get("/api/tasks").status_code)
    assert statuses == [500] * 20
    assert server.metric("slolab_fault_active", fault="error_rate") >= 1
    with server.fresh() as c:
        assert c.delete("/admin/faults", headers=AUTH).status_code == 200
    statuses = []
    for _ in range(20):
        with server.fresh() as c:
            statuses.append(c.get("/api/tasks").status_code)
    assert statuses == [200] * 20
    assert server.metric("flask_http_request_total", method="GET", status="500") == 20


def test_admin_needs_the_token(server: Server) -> None:
    with server.fresh() as c:
        assert c.put("/admin/faults", json={"error_rate": 1}).status_code == 401
        assert c.put("/admin/faults", json={"error_rate": 1},
                     headers={"Authorization": "Bearer nope"}).status_code == 401  # fmt: skip
        assert c.get("/api/tasks").status_code == 200


def test_cpu_and_memory_cover_the_whole_server_tree(server: Server) -> None:
    procs = [psutil.Process(server.svc.pid), *server.workers()]
    assert len(procs) == 3
    rss_tree = sum(p.memory_info().rss for p in procs)
    reported = server.metric("process_resident_memory_bytes")
    # Not one worker's memory but the master's and both workers' (within drift).
    assert reported > max(p.memory_info().rss for p in procs) * 1.5
    assert abs(reported - rss_tree) < 0.2 * rss_tree
    assert server.metric("slolab_server_processes") == 3
    assert server.metric("process_cpu_seconds_total") > 0


def test_a_killed_worker_is_replaced_and_counts_stay_consistent(server: Server) -> None:
    victim = server.workers()[0]
    statuses: list[int | str] = []

    def create(i: int) -> None:
        with server.fresh() as c:
            try:
                statuses.append(c.post("/api/tasks", json={"title": f"k{i}"}).status_code)
            except httpx.HTTPError as exc:
                statuses.append(type(exc).__name__)

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(create, i) for i in range(120)]
        time.sleep(0.2)
        victim.send_signal(signal.SIGKILL)
        for f in futures:
            f.result()
    deadline = time.monotonic() + 20
    while len(server.workers()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(server.workers()) == 2 and victim.pid not in {p.pid for p in server.workers()}
    ok = statuses.count(201)
    assert ok >= 100, Counter(statuses)
    assert all(s == 201 or isinstance(s, str) for s in statuses), Counter(statuses)
    stored = httpx.get(f"{server.url}/api/tasks", params={"limit": 1}).json()["total"]
    # Every 201 is stored; a request cut off by the kill may or may not have been.
    assert ok <= stored <= len(statuses)
    # The dead worker's counter file still counts: the total never goes back.
    assert ok <= server.metric("create_task_total") <= stored


def _live_gauge_pids(mp_dir: Path) -> set[int]:
    return {int(f.stem.rsplit("_", 1)[1]) for f in mp_dir.glob("gauge_live*_*.db")}


def test_a_dead_workers_live_gauges_are_dropped(server: Server) -> None:
    # Touch the fault gauge (a "live" gauge) in both workers.
    for _ in range(20):
        with server.fresh() as c:
            c.get("/metrics")
    victim = server.workers()[0]
    assert victim.pid in _live_gauge_pids(server.mp_dir)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        httpx.get(f"{server.url}/metrics", timeout=5)  # the scrape does the cleanup
        if victim.pid not in _live_gauge_pids(server.mp_dir):
            break
        time.sleep(0.2)
    assert victim.pid not in _live_gauge_pids(server.mp_dir)


@pytest.mark.parametrize("name", TASKS_SERVERS)
def test_a_graceful_stop_flushes_the_queued_spans(tmp_path: Path, name: str) -> None:
    with OTLPSink() as sink:
        with _run(
            tmp_path,
            name,
            PREDICTOR_URL="http://127.0.0.1:9",
            OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint,
            # Nothing leaves on schedule during the test: only the flush at exit sends.
            OTEL_BSP_SCHEDULE_DELAY="600000",
            SLOLAB_TRACE_KEEP_RATIO="1",  # every trace, fast ones included
        ) as svc:
            for _ in range(10):
                with httpx.Client(base_url=svc.url, headers={"Connection": "close"}) as c:
                    assert c.get("/api/tasks").status_code == 200
            assert sink.snapshot() == []
        assert svc.proc is not None and svc.proc.exited() is not None
        served = [s for s in sink.snapshot() if s["kind"] == 2 and s["service"] == "tasks"]
        assert len(served) == 10, (len(served), svc.log.read_text()[-2000:])
