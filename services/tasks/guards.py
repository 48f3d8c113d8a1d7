"""Small WSGI guards in front of the app (the predictor's, ASGI: services/predictor/guards.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from slolab.contract import KNOWN_METHODS

__all__ = ["known_methods_only", "length_required_on_granian"]

_LENGTH_REQUIRED = (
    b'{"error": "send the body with a Content-Length: this server cannot tell a chunked '
    b'body whose framing broke from a complete one", "field": "body"}\n'
)


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


def length_required_on_granian(wsgi: Callable[..., Iterable[bytes]]) -> Callable[..., Any]:
    """411 for a chunked request body under granian, before Flask reads it.

    granian (2.8) ends a chunked body at the first framing error without telling the
    app: ``read(n)`` returns the chunks before the break, then ``b""`` as at a clean
    end, so a complete first chunk followed by garbage (or by a half-close mid-chunk)
    was stored as a whole body. Reading it all first (``read()``, which answers ``b""``
    on a broken body) has no size limit. Until granian reports the error, only bodies
    with a length are taken; gunicorn reports it (400), so there chunked stays.
    """

    def guard(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (
            environ.get("SERVER_SOFTWARE") == "Granian"
            and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        ):
            start_response(
                "411 LENGTH REQUIRED",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(_LENGTH_REQUIRED))),
                    ("Connection", "close"),  # the rest of the body is not read
                ],
            )
            return [_LENGTH_REQUIRED]
        return wsgi(environ, start_response)

    return guard
