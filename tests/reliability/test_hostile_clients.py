"""Hostile clients against the real servers: malformed chunked bodies, oversized and
countless headers, made-up HTTP versions, and what each leaves in the log and the
availability series. (Slow and silent connections: test_slow_clients.py.)"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.figures import record
from tests.reliability.services import FEEDBACK_AUTH, Service, run_pair, run_service

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

# Bodies whose chunk framing is broken: a size that is not hex, a chunk without its
# CRLF, a malformed chunk extension.
BAD_CHUNKED = {
    "bad-size": b"zz\r\n{}\r\n0\r\n\r\n",
    "missing-crlf": b"2\r\n{}XX3\r\n{}}\r\n0\r\n\r\n",
    "bad-extension": b"2;\x01=\r\n{}\r\n0\r\n\r\n",
}
FIVE_XX = {"tasks": ("flask_http_request_total", "status"),
           "predictor": ("http_requests_total", "status")}  # fmt: skip


@pytest.fixture(scope="module")
def services(tmp_path_factory) -> Iterator[dict[str, Service]]:
    tmp = tmp_path_factory.mktemp("clients")
    with run_pair(tmp, {"LOG_LEVEL": "INFO"}, LOG_LEVEL="INFO") as services:
        yield services


def raw(url: str, request: bytes, timeout: float = 10) -> bytes:
    """Send ``request`` as is on a fresh connection; return all the server answers."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        # No half-close: granian drops a connection whose client shut its side.
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def status_and_body(answer: bytes) -> tuple[int, bytes, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), head, body


def five_xx(svc: Service) -> float:
    name, label = FIVE_XX[svc.name]
    text = httpx.get(f"{svc.url}/metrics", timeout=5).text
    total = 0.0
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels.get(label, "").startswith("5"):
                total += s.value
    return total


def _targets(services: dict[str, Service]) -> list[tuple[Service, str, str]]:
    tasks, predictor = services["tasks"], services["predictor"]
    task = httpx.post(f"{tasks.url}/api/tasks", json={"title": "chunk target"}).json()
    return [
        (tasks, "POST", "/api/tasks"),
        (tasks, "PATCH", f"/api/tasks/{task['id']}"),
        (tasks, "PUT", "/admin/faults"),
        (predictor, "POST", "/predict"),
        (predictor, "POST", "/feedback"),
        (predictor, "PUT", "/admin/faults"),
    ]


def test_malformed_chunked_bodies_are_400_not_5xx(services) -> None:
    before = {name: five_xx(svc) for name, svc in services.items()}
    log_before = {name: svc.log.stat().st_size for name, svc in services.items()}
    answers = 0
    statuses: dict[int, int] = {}
    for svc, method, path in _targets(services):
        for case, body in BAD_CHUNKED.items():
            request = (
                f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Authorization: {svc.auth['Authorization']}\r\n"
                "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            ).encode() + body
            status, head, payload = status_and_body(raw(svc.url, request))
            # granian (tasks) cannot tell a broken chunked body from a whole one: 411, a
            # body with a length is required (docs/reliability.md).
            expected = 400 if svc.name == "predictor" else 411
            assert status == expected, (svc.name, method, path, case, head, payload)
            statuses[status] = statuses.get(status, 0) + 1
            assert b"application/json" in head.lower(), (svc.name, path, case, head)
            assert "error" in json.loads(payload), payload
            answers += 1
    for name, svc in services.items():
        assert five_xx(svc) == before[name], name  # the error budget is not anyone's to burn
        grown = svc.log.stat().st_size - log_before[name]
        # No traceback per request: at most a short line each.
        assert grown < 300 * answers, (name, grown, svc.log.read_text()[-3000:])
        assert httpx.get(f"{svc.url}/readyz").status_code == 200
    record("malformed_chunked", requests=answers, statuses=statuses)


# Framing that breaks after a complete first chunk (issue 25): a stray size line, and a
# chunk declaring 0x80 bytes of which the client sends 22 before it half-closes.
BROKEN_AFTER_A_CHUNK = {
    "stray-size": (b'11\r\n{"title":"trunc"}\r\nzz\r\n\r\n', False),
    "short-chunk": (b'80\r\n{"title":"short chunk"}', True),
}


def _answer(url: str, request: bytes, half_close: bool) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        out = b""
        with contextlib.suppress(OSError):  # a reset after the answer (or instead of one)
            while chunk := sock.recv(65536):
                out += chunk
    return out


def test_a_body_broken_after_a_complete_chunk_is_refused(services) -> None:
    """Before: tasks (granian) stored the first chunk (201), PATCHed with it and set the
    faults it named (200); the predictor answered 400."""
    tasks = services["tasks"]
    task = httpx.post(f"{tasks.url}/api/tasks", json={"title": "chunk target"}).json()
    bodies = {"POST /api/tasks": b'{"title":"trunc"}', f"PATCH /api/tasks/{task['id']}":
              b'{"title":"trunc"}', "PUT /admin/faults": b'{"error_rate":0.5}'}  # fmt: skip
    total = httpx.get(f"{tasks.url}/api/tasks", params={"limit": 1}).json()["total"]
    statuses: dict[int | str, int] = {}
    for svc, target, first in [(tasks, t, b) for t, b in bodies.items()] + [
        (services["predictor"], "POST /feedback", b'{"prediction_id":"x","true_label":"low"}')
    ]:
        for case, (framing, half_close) in BROKEN_AFTER_A_CHUNK.items():
            if case == "stray-size":  # the complete first chunk is this route's own body
                framing = b"%x\r\n%s\r\nzz\r\n\r\n" % (len(first), first)
            auth = (FEEDBACK_AUTH if "feedback" in target else svc.auth)["Authorization"]
            request = (
                f"{target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Authorization: {auth}\r\n"
                "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            ).encode() + framing
            answer = _answer(svc.url, request, half_close)
            status: int | str = status_and_body(answer)[0] if answer else "no answer"
            statuses[status] = statuses.get(status, 0) + 1
            # The predictor (uvicorn) closes a half-closed connection without an answer.
            refused = (411,) if svc is tasks else (400, "no answer")
            assert status in refused, (svc.name, target, case, answer)
    # Nothing of the broken bodies applied.
    assert httpx.get(f"{tasks.url}/api/tasks", params={"limit": 1}).json()["total"] == total
    assert httpx.get(f"{tasks.url}/api/tasks/{task['id']}").json()["title"] == "chunk target"
    faults = httpx.get(f"{tasks.url}/admin/faults", headers=tasks.auth).json()
    assert not faults["active"], faults
    record("chunked_broken_after_a_chunk", requests=sum(statuses.values()), statuses=statuses)


@pytest.mark.parametrize("service", ["tasks", "predictor"])
def test_an_http_0_9_request_line_is_answered_at_once(services, service) -> None:
    """``GET /healthz`` without a version (HTTP/0.9). Before: no answer, the connection
    held until the header timeout (10 s)."""
    svc = services[service]
    host, port = svc.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /healthz\r\n")
        t0 = time.monotonic()
        answer = b""
        with contextlib.suppress(OSError):
            sock.settimeout(3)
            while chunk := sock.recv(65536):
                answer += chunk
        seconds = time.monotonic() - t0
    assert answer and status_and_body(answer)[0] == 400, answer[:300]
    assert seconds < 2, seconds
    record("http_0_9", service=service, status=400, seconds=round(seconds, 3))


@pytest.mark.parametrize("service", ["tasks", "predictor"])
def test_two_authorization_headers_are_refused_on_both(services, service) -> None:
    """Right then wrong (and wrong then right): ambiguous, so 401 on both services.
    Before: tasks 401, the predictor 200 (it read the first)."""
    svc = services[service]
    right = svc.auth["Authorization"]
    for pair in ((right, "Bearer wrong"), ("Bearer wrong", right)):
        request = (
            f"GET /admin/faults HTTP/1.1\r\nHost: x\r\nAuthorization: {pair[0]}\r\n"
            f"Authorization: {pair[1]}\r\nConnection: close\r\n\r\n"
        ).encode()
        status, head, body = status_and_body(raw(svc.url, request))
        assert status == 401, (pair, head, body)
    assert httpx.get(f"{svc.url}/admin/faults", headers=svc.auth).status_code == 200


def _json_lines_only(log: Path) -> None:
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines, "nothing logged at INFO"
    not_json = []
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            not_json.append(line)
    assert not not_json, not_json[:10]


@pytest.mark.parametrize("service", ["tasks", "predictor"])
def test_every_log_line_is_json(services, service) -> None:
    """Server start-up lines and the app's own lines are all one JSON object each."""
    svc = services[service]
    httpx.get(f"{svc.url}/healthz")
    _json_lines_only(svc.log)


def test_every_log_line_is_json_under_gunicorn_too(tmp_path: Path) -> None:
    with run_service("tasks", tmp_path, TASKS_SERVER="gunicorn", LOG_LEVEL="INFO") as svc:
        httpx.get(f"{svc.url}/healthz")
    _json_lines_only(svc.log)  # stop lines included


class _BrokenInput(io.BytesIO):
    """gunicorn's body stream on a bad chunk size (TASKS_SERVER=gunicorn)."""

    def read(self, *args: object) -> bytes:  # type: ignore[override]
        from gunicorn.http.errors import InvalidChunkSize  # not an OSError: werkzeug lets it out

        raise InvalidChunkSize(b"zz")

    readline = readinto = read  # type: ignore[assignment]


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/tasks"), ("PUT", "/admin/faults")])
def test_a_failing_body_stream_is_400_in_process(tmp_path, monkeypatch, method, path) -> None:
    from slolab.faults import ALLOWED, FaultController
    from slolab.lab.procs import free_port
    from slolab.services.tasks.app import create_app
    from slolab.services.tasks.config import Settings

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    ctl = FaultController("tasks", ALLOWED["tasks"], tmp_path / "state", "t0ken")
    cfg = Settings(db_path=tmp_path / "t.sqlite3", predictor_url=f"http://127.0.0.1:{free_port()}")
    app = create_app(cfg, faults=ctl)
    resp = app.test_client().open(
        path, method=method, input_stream=_BrokenInput(),
        # As gunicorn says of a chunked body: read it to its end, there is no length.
        environ_overrides={"wsgi.input_terminated": True},
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked",
                 "Authorization": "Bearer t0ken"},
    )  # fmt: skip
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json().get("field") == "body", resp.get_json()
    app.extensions["slolab_tasks"].store.close()


HEADS = {
    "50-kib-header": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 50_000 + b"\r\n", 431),
    "150-headers": (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(150)),
        431,
    ),
    # granian counts the URL into the head (431); the predictor names it (414).
    "20-kib-url": (b"GET /healthz?" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n", (414, 431)),
    "http-1.7": (b"GET /healthz HTTP/1.7\r\nHost: x\r\n", 400),
    "http-2.0": (b"GET /healthz HTTP/2.0\r\nHost: x\r\n", 400),  # predictor: 200 before
}


@pytest.mark.parametrize("service", ["tasks", "predictor"])
@pytest.mark.parametrize("case", list(HEADS))
def test_oversized_and_malformed_heads_are_refused(services, service, case) -> None:
    svc = services[service]
    head, expected = HEADS[case]
    answer = raw(svc.url, head + b"Connection: close\r\n\r\n")
    status, response_head, body = status_and_body(answer)
    assert status in (expected if isinstance(expected, tuple) else (expected,)), answer[:300]
    assert not response_head.startswith(b"HTTP/1.7"), response_head  # never echoed
    if service == "predictor":  # granian answers these with an empty body
        assert b"application/json" in response_head and "error" in json.loads(body), answer
    assert httpx.get(f"{svc.url}/healthz").status_code == 200


@pytest.mark.parametrize(("service", "path"), [("tasks", "/api/tasks"), ("predictor", "/predict")])
def test_a_body_that_is_not_json_is_415_on_both(services, service, path) -> None:
    svc = services[service]
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        resp = httpx.post(f"{svc.url}{path}", content=b"{}", headers={"Content-Type": content_type})
        assert resp.status_code == 415, (content_type, resp.text)
        assert resp.json()["field"] == "body", resp.text
