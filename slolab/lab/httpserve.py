"""Small HTTP servers in a background thread: the lab's webhook receiver and test stand-ins.

A :class:`BackgroundHTTPServer` runs a :class:`~http.server.ThreadingHTTPServer`
on ``host:port`` (port 0: a free one) from a daemon thread, as a context
manager; a :class:`QuietHandler` keeps request logging off stderr and sends
JSON (or any body) with its length in one call.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["BackgroundHTTPServer", "QuietHandler"]


class _Server(ThreadingHTTPServer):
    # Request threads must not keep the process (a test run, the lab) alive.
    daemon_threads = True
    max_connections: int | None = None  # beyond this, a new connection is closed unanswered
    _open = 0
    _open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        # A thread per connection: without a cap a flood of connections is a flood of
        # threads (each with its stack and buffers) in the receiving process.
        if self.max_connections is not None:
            with self._open_lock:
                if self._open >= self.max_connections:
                    self.shutdown_request(request)
                    return
                self._open += 1
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            if self.max_connections is not None:
                with self._open_lock:
                    self._open -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up before the answer (a timeout it was testing, Ctrl-C)
        # is not the server's error: no traceback for it on stderr.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and answers with :meth:`reply`."""

    def log_message(self, *args: Any) -> None:
        pass  # a line per request on stderr would bury the test or lab output

    def read_body(self) -> bytes:
        """The request body (``Content-Length`` bytes; none without one)."""
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status: int, body: Any = None, content_type: str = "application/json") -> None:
        """Send ``status`` and ``body``: bytes or text as they are, anything else as JSON."""
        if body is None:
            data = b""
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class BackgroundHTTPServer:
    """``handler`` served on ``host:port`` (0: any free port) from a daemon thread.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    ``base_url`` is known from construction on (the socket is bound then).
    ``max_connections`` caps the connections served at once (a thread each).
    """

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        poll_interval: float = 0.05,
        max_connections: int | None = None,
    ) -> None:
        self.server = _Server((host, port), handler)
        self.server.max_connections = max_connections
        self.server._open_lock = threading.Lock()
        self.host, self.port = str(self.server.server_address[0]), self.server.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}"
        # A short poll interval: stop() returns within it instead of the default 0.5 s.
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(poll_interval,), daemon=True
        )

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
