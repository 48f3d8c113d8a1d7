"""A tiny fake Prometheus HTTP API for toolkit tests: real-shaped JSON on a free port.

Tests set ``server.route`` to a function ``(path, params) -> (status, body)``;
helpers build the bodies Prometheus sends. Every request is logged in
``server.requests``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from slolab.lab.httpserve import BackgroundHTTPServer, QuietHandler

Route = Callable[[str, dict[str, str]], tuple[int, Any]]


def success(data: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"status": "success", "data": data}


def error(error_type: str, message: str, status: int = 400) -> tuple[int, dict[str, Any]]:
    return status, {"status": "error", "errorType": error_type, "error": message}


def _num(value: float) -> str:
    return "NaN" if value != value else repr(float(value))


def vector(*items: tuple[Mapping[str, str], float], at: float = 1_700_000_000.0):
    """An instant-vector answer: ``(labels, value)`` pairs."""
    result = [{"metric": dict(labels), "value": [at, _num(v)]} for labels, v in items]
    return success({"resultType": "vector", "result": result})


def matrix(*items: tuple[Mapping[str, str], Iterable[tuple[float, float]]]):
    """A range answer: ``(labels, [(time, value), ...])`` pairs."""
    result = [
        {"metric": dict(labels), "values": [[t, _num(v)] for t, v in points]}
        for labels, points in items
    ]
    return success({"resultType": "matrix", "result": result})


def alerts(*items: Mapping[str, Any]):
    """An ``/api/v1/alerts`` answer; each item: labels (with alertname) and state."""
    listed = [
        {
            "labels": dict(a["labels"]),
            "annotations": dict(a.get("annotations", {})),
            "state": a.get("state", "firing"),
            "activeAt": "2026-11-23T10:00:00Z",
            "value": "1e+00",
        }
        for a in items
    ]
    return success({"alerts": listed})


class FakePrometheus(BackgroundHTTPServer):
    def __init__(self) -> None:
        self.route: Route = lambda path, params: (404, "not found")
        self.requests: list[tuple[str, dict[str, str]]] = []
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                fake.requests.append((parts.path, params))
                try:
                    status, body = fake.route(parts.path, params)
                except Exception as exc:  # a test bug: show it as Prometheus would not
                    status, body = 500, f"fake route failed: {exc!r}"
                ctype = "text/plain" if isinstance(body, str) else "application/json"
                self.reply(status, body, ctype)

        super().__init__(Handler)
        self.url = self.base_url

    def queries(self) -> list[str]:
        return [p.get("query", "") for _, p in self.requests]
