"""A tiny predictor stand-in on loopback whose behaviour a test can change."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

from slolab.lab.httpserve import BackgroundHTTPServer, QuietHandler


class FakePredictor(BackgroundHTTPServer):
    """Answers /predict and /feedback; ``mode`` is ok, slow, error or garbage."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.delay = 1.0
        self.label = "high"
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = json.loads(self.read_body() or b"{}")
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
                with contextlib.suppress(OSError):  # the client gave up waiting (slow mode)
                    self.reply(status, body)

        super().__init__(Handler, poll_interval=0.02)
        self.url = self.base_url

    def paths(self) -> list[str]:
        with self._lock:
            return [p for p, _ in self.requests]
