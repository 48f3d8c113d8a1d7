"""Slow and silent clients must not take a service offline: while N connections dribble
a request head a byte at a time and N more send nothing at all, normal requests (the
API and /metrics) are served within one bound, the same for both services, and the
server closes the idle connections after its header-read timeout."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.reliability.figures import record
from tests.reliability.load import percentile
from tests.reliability.services import Service, run_pair

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

SLOW = 40  # connections sending one header byte every DRIBBLE_S
SILENT = 40  # connections that never send a byte
DRIBBLE_S = 0.5
HEADER_TIMEOUT_S = 3  # TASKS_/PREDICTOR_HEADER_TIMEOUT_S for this test (default 10)
BOUND_S = 5.0  # every normal request, both services (gthread took 30 s and more)
FEATURES = {"title_length": 20, "urgent_words": 0, "due_in_days": 3.0, "estimated_hours": 2.0}
NORMAL = {"tasks": ("GET", "/api/tasks?limit=5", None), "predictor": ("POST", "/predict", FEATURES)}


@pytest.fixture(scope="module")
def services(tmp_path_factory) -> Iterator[dict[str, Service]]:
    tmp = tmp_path_factory.mktemp("slow")
    timeout = str(HEADER_TIMEOUT_S)
    with run_pair(
        tmp, {"PREDICTOR_HEADER_TIMEOUT_S": timeout}, TASKS_HEADER_TIMEOUT_S=timeout
    ) as services:
        yield services


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock


class Dribblers:
    """``n`` connections that send a request head one byte every ``interval`` seconds."""

    def __init__(self, url: str, n: int, interval: float) -> None:
        self.socks = [_connect(url) for _ in range(n)]
        self.interval = interval
        self.closed_after: list[float] = []  # seconds until the server cut each one off
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def _run(self) -> None:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000
        alive = dict(enumerate(self.socks))
        for i in range(len(head)):
            if self._stop.is_set() or not alive:
                return
            for k, sock in list(alive.items()):
                try:
                    sock.send(head[i : i + 1])
                except OSError:
                    self.closed_after.append(time.monotonic() - self._started)
                    del alive[k]
            self._stop.wait(self.interval)

    def __enter__(self) -> Dribblers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in self.socks:
            sock.close()


def _closed_by_server(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):  # a server may answer (408) before it closes
            pass
    except TimeoutError:
        return False
    except OSError:
        return True  # reset
    return True


@pytest.mark.parametrize("service", ["tasks", "predictor"])
def test_slow_and_silent_clients_do_not_starve_others(services, service) -> None:
    svc = services[service]
    method, path, body = NORMAL[service]
    silent = [_connect(svc.url) for _ in range(SILENT)]
    seconds: list[float] = []
    try:
        with Dribblers(svc.url, SLOW, DRIBBLE_S) as dribblers, httpx.Client(timeout=BOUND_S) as c:
            started = time.monotonic()
            # Normal clients for a while longer than the header timeout.
            while time.monotonic() - started < HEADER_TIMEOUT_S + 2:
                for m, p, b in ((method, path, body), ("GET", "/metrics", None)):
                    t0 = time.monotonic()
                    resp = c.request(m, f"{svc.url}{p}", json=b)
                    seconds.append(time.monotonic() - t0)
                    assert resp.status_code == 200, resp.text
            # The server, not the client, ends the slow heads: within the timeout + slack.
            deadline = time.monotonic() + HEADER_TIMEOUT_S + 10
            while len(dribblers.closed_after) < SLOW and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(dribblers.closed_after) == SLOW, len(dribblers.closed_after)
        closed = sum(_closed_by_server(s, HEADER_TIMEOUT_S + 10) for s in silent)
        assert closed == SILENT, f"{SILENT - closed} silent connections still open"
    finally:
        for s in silent:
            s.close()
    assert max(seconds) < BOUND_S
    record(
        "slow_clients", service=service, slow=SLOW, silent=SILENT, requests=len(seconds),
        p50_ms=round(percentile(seconds, 50) * 1000, 1), max_ms=round(max(seconds) * 1000, 1),
        slow_closed_after_s=round(max(dribblers.closed_after), 1),
    )  # fmt: skip


HELD = 1_100  # the crowd: more than granian's default backlog (1,024)
PROBES = 10
PROBE_BOUND_S = 3.0


@pytest.mark.parametrize("service", ["tasks", "predictor"])
def test_a_thousand_held_connections_do_not_lock_out_new_clients(tmp_path, service) -> None:
    """1,100 connections held open (silent, within the header timeout): new clients are
    served. Before: tasks on granian's defaults (backlog 1,024, half of it per worker)
    queued every new client behind them until the header timeout freed some (10 s)."""
    from tests.reliability.services import run_service

    method, path, body = NORMAL[service]
    with run_service(service, tmp_path) as svc:
        held = [_connect(svc.url) for _ in range(HELD)]
        seconds: list[float] = []
        try:
            time.sleep(0.5)  # accepted (or queued) by now
            for _ in range(PROBES):
                t0 = time.monotonic()
                try:
                    with httpx.Client(timeout=PROBE_BOUND_S) as c:  # a new client each time
                        status: int | str = c.request(
                            method, f"{svc.url}{path}", json=body
                        ).status_code
                except httpx.TimeoutException:
                    status = "timeout"
                seconds.append(time.monotonic() - t0)
                assert status == 200, (status, f"probe {len(seconds)} of {PROBES}")
        finally:
            for s in held:
                s.close()
    record(
        "held_connections", service=service, held=HELD, probes=PROBES,
        p50_ms=round(percentile(seconds, 50) * 1000, 1), max_ms=round(max(seconds) * 1000, 1),
    )  # fmt: skip
