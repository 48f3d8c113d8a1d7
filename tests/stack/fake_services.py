"""Two tiny HTTP stand-ins for tasks and predictor on loopback (ephemeral ports).

Just enough of docs/architecture.md's APIs for the load generator, recording
every request (method, path, headers, body) so tests can check what was sent.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

from slolab.lab.httpserve import BackgroundHTTPServer, QuietHandler

Request = tuple[str, str, dict[str, str], Any]


class FakeService(BackgroundHTTPServer):
    """``kind`` is "tasks" or "predictor"; ``token`` guards /admin/faults."""

    def __init__(self, kind: str, token: str | None = None) -> None:
        self.kind = kind
        self.token = token
        self.requests: list[Request] = []
        self.tasks: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        outer = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                raw = self.read_body()
                body = json.loads(raw) if raw else None
                with outer._lock:
                    outer.requests.append((self.command, self.path, dict(self.headers), body))
                    status, answer = outer.answer(
                        self.command, self.path, body, self.headers.get("Authorization")
                    )
                self.reply(status, answer)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        super().__init__(Handler)
        self.url = self.base_url

    def answer(self, method: str, path: str, body: Any, auth: str | None) -> tuple[int, Any]:
        route = path.split("?", 1)[0]
        if route == "/admin/faults":
            if not self.token:
                return 404, {"detail": "admin surface disabled"}
            if auth != f"Bearer {self.token}":
                return 401, {"detail": "bad token"}
            return 200, {"faults": body or {}}
        if self.kind == "predictor":
            if (method, route) == ("POST", "/predict"):
                return 200, {"prediction_id": f"p{next(self._ids)}", "label": "low",
                             "probability": 0.9, "model_version": "fake"}  # fmt: skip
            if (method, route) == ("POST", "/feedback"):
                return 200, {"correct": body.get("true_label") == "low"}
            if (method, route) == ("GET", "/model"):
                return 200, {"version": "fake", "trained_at": 0}
            return 404, {"detail": "not found"}
        if route == "/api/tasks":
            if method == "POST":
                task = {"id": str(next(self._ids)), **body, "done": False}
                self.tasks[task["id"]] = task
                return 201, task
            items = list(self.tasks.values())
            return 200, {"items": items[:20], "total": len(items), "limit": 20, "offset": 0}
        if route.startswith("/api/tasks/"):
            task = self.tasks.get(route.rsplit("/", 1)[1])
            if task is None:
                return 404, {"detail": "unknown task"}
            if method == "PATCH":
                task.update(body)
            if method == "DELETE":
                del self.tasks[task["id"]]
                return 204, None
            return 200, task
        return 404, {"detail": "not found"}
