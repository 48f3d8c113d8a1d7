"""A tiny predictor stand-in on loopback whose behaviour a test can change."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakePredictor:
    """Answers /predict and /feedback; ``mode`` is ok, slow, error or garbage."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.delay = 1.0
        self.label = "high"
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with outer._lock:
                    outer.requests.append((self.path, body))
                if outer.mode == "slow":
                    time.sleep(outer.delay)
                if outer.mode == "error":
                    self._send(500, b'{"detail": "boom"}')
                elif outer.mode == "garbage":
                    self._send(200, b'{"label": "purple"}')
                elif self.path == "/predict":
                    n = len(outer.requests)
                    answer = {"prediction_id": f"p{n}", "label": outer.label,
                              "probability": 0.9, "model_version": "t"}  # fmt: skip
                    self._send(200, json.dumps(answer).encode())
                else:
                    self._send(200, b'{"correct": true}')

            def _send(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up waiting (slow mode)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def paths(self) -> list[str]:
        with self._lock:
            return [p for p, _ in self.requests]

    def __enter__(self) -> FakePredictor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
