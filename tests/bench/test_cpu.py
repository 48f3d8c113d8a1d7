"""bench/cpu.py: the interleaved one-at-a-time rounds, against a local HTTP server."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import cpu


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the services
    seen: list[tuple[int, str, bytes]] = []

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append((self.server.server_port, self.path, body))  # type: ignore[attr-defined]
        status = 404 if self.path.startswith("/missing") else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[dict[str, str]]:
    made = [ThreadingHTTPServer(("127.0.0.1", 0), _Handler) for _ in range(2)]
    for s in made:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    _Handler.seen = []
    yield {"off": f"http://127.0.0.1:{made[0].server_port}",
           "default": f"http://127.0.0.1:{made[1].server_port}"}  # fmt: skip
    for s in made:
        s.shutdown()
        s.server_close()


def test_bodies_are_the_wrk_scripts_bodies() -> None:
    # slolab/lua/predict.lua and create_task.lua for their first request (n = 1)
    predict = json.loads(cpu.body_maker("predict")(1) or b"")
    assert predict == {"title_length": 11, "urgent_words": 1, "due_in_days": 1,
                       "estimated_hours": 1.0}  # fmt: skip
    create = json.loads(cpu.body_maker("create_task")(1) or b"")
    assert create == {"title": "fix the login bug asap #1", "due_in_days": 1,
                      "estimated_hours": 1.0}  # fmt: skip
    assert cpu.body_maker(None)(1) is None
    with pytest.raises(ValueError, match=r"nope\.lua"):
        cpu.body_maker("nope")


def test_a_round_interleaves_the_configurations_and_charges_each_its_own_cpu(
    servers: dict[str, str],
) -> None:
    spent = {"off": 0.0, "default": 0.0}

    def meter(mode: str):  # a made-up CPU clock: 1 ms per request answered
        return lambda: (
            spent[mode]
            + 0.001 * sum(1 for port, _, _ in _Handler.seen if servers[mode].endswith(f":{port}"))
        )

    with cpu.clients(servers, "/predict", "predict") as conns:
        served = cpu.interleave(conns, {m: meter(m) for m in servers}, 0.5)
    ports = [port for port, _, _ in _Handler.seen]
    # Both configurations served, in slices of 0.1 s (ABBA…): the port changes ~5 times.
    assert served["off"].requests > 0 and served["default"].requests > 0
    switches = sum(1 for a, b in itertools.pairwise(ports) if a != b)
    assert switches >= 3, (switches, len(ports))
    for s in served.values():
        assert s.errors == 0 and len(s.latencies_ms) == s.requests
        assert s.cpu_s == pytest.approx(0.001 * s.requests)
        assert s.percentile(50) > 0
    assert all(path == "/predict" and body.startswith(b'{"title_length"')
               for _, path, body in _Handler.seen)  # fmt: skip


def test_error_answers_are_counted(servers: dict[str, str]) -> None:
    with cpu.clients(servers, "/missing", None) as conns:
        served = cpu.interleave(conns, {m: (lambda: 0.0) for m in servers}, 0.1)
    assert all(s.errors == s.requests > 0 for s in served.values())
