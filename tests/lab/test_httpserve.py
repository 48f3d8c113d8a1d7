"""The one small-HTTP-server helper: a ThreadingHTTPServer in a daemon thread."""

from __future__ import annotations

import socket
import struct
import time

import httpx
import pytest

from slolab.lab.httpserve import BackgroundHTTPServer, QuietHandler
from slolab.lab.procs import free_port


class Echo(QuietHandler):
    """GET /json, /bytes, /text, /empty answer with each kind of body; POST echoes."""

    def do_GET(self) -> None:
        bodies = {"/json": {"a": [1, 2]}, "/bytes": b"\x00\x01", "/text": "hi", "/empty": None}
        if self.path not in bodies:
            self.reply(404, {"error": f"no {self.path}"})
            return
        ctype = "application/octet-stream" if self.path == "/bytes" else "application/json"
        self.reply(200, bodies[self.path], ctype)

    def do_POST(self) -> None:
        self.reply(201, {"got": self.read_body().decode()})


def test_bodies_are_sent_with_their_length_and_type() -> None:
    with BackgroundHTTPServer(Echo) as server, httpx.Client(base_url=server.base_url) as c:
        r = c.get("/json")
        assert (r.status_code, r.json(), r.headers["content-type"]) == (
            200, {"a": [1, 2]}, "application/json"
        )  # fmt: skip
        r = c.get("/bytes")
        assert r.content == b"\x00\x01" and r.headers["content-length"] == "2"
        assert r.headers["content-type"] == "application/octet-stream"
        assert c.get("/text").content == b"hi"
        r = c.get("/empty")
        assert r.content == b"" and r.headers["content-length"] == "0"
        assert c.get("/nope").json() == {"error": "no /nope"}
        assert c.post("/", content=b"payload").json() == {"got": "payload"}
        assert c.post("/").json() == {"got": ""}  # no body, no Content-Length


def test_port_zero_picks_a_free_loopback_port_and_a_given_one_is_used() -> None:
    with BackgroundHTTPServer(Echo) as a, BackgroundHTTPServer(Echo) as b:
        assert a.host == "127.0.0.1" and a.port != b.port and a.port > 0
        assert a.base_url == f"http://127.0.0.1:{a.port}"
    port = free_port()
    with BackgroundHTTPServer(Echo, "127.0.0.1", port) as c:
        assert httpx.get(f"http://127.0.0.1:{port}/json").status_code == 200
        assert c.port == port


def test_stop_frees_the_port_promptly_even_if_never_started() -> None:
    never = BackgroundHTTPServer(Echo)
    started = time.monotonic()
    never.stop()  # must not wait for a serve loop that never ran
    server = BackgroundHTTPServer(Echo).start()
    httpx.get(f"{server.base_url}/json")
    server.stop()
    assert time.monotonic() - started < 5
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/json")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", server.port))


def test_nothing_is_logged_per_request(capfd: pytest.CaptureFixture[str]) -> None:
    with BackgroundHTTPServer(Echo) as server:
        httpx.get(f"{server.base_url}/json")
        httpx.get(f"{server.base_url}/missing")
    assert capfd.readouterr().err == ""


class Failing(QuietHandler):
    """/slow answers after the client may have gone; /boom raises."""

    def do_GET(self) -> None:
        if self.path == "/boom":
            raise RuntimeError("a handler bug")
        time.sleep(0.3)
        self.reply(200, b"x" * 1_000_000, "application/octet-stream")


def test_a_client_that_hangs_up_is_not_a_server_error_but_a_bug_is(capfd) -> None:
    with BackgroundHTTPServer(Failing) as server:
        for _ in range(3):  # ask, then hang up (RST) before the answer is written
            with socket.create_connection((server.host, server.port)) as s:
                s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        time.sleep(0.6)  # the answers are written (and fail) 0.3 s after each request
        assert "Exception occurred" not in capfd.readouterr().err
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{server.base_url}/boom", timeout=5)
        # printed before the server closes the connection the client saw close
        err = capfd.readouterr().err
    assert "RuntimeError: a handler bug" in err
