"""Small WSGI guards in front of the app (the predictor's, ASGI: services/predictor/guards.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from slolab.contract import KNOWN_METHODS

__all__ = ["known_methods_only"]


def known_methods_only(app: Flask, wsgi: Callable[..., Iterable[bytes]]) -> Callable[..., Any]:
    """Answer made-up HTTP methods before Flask: each would be a new metrics label value."""

    def guard(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") in KNOWN_METHODS:
            return wsgi(environ, start_response)
        allowed = app.url_map.bind_to_environ(environ).allowed_methods()
        body = b'{"error": "method not allowed"}\n'
        start_response(
            "405 METHOD NOT ALLOWED",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Allow", ", ".join(sorted(allowed))),
            ],
        )
        return [body]

    return guard
