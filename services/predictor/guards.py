"""Small ASGI guards in front of the app: body size limit and known HTTP methods only."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slolab.asgi import ResponseWatch
from slolab.contract import KNOWN_METHODS

__all__ = ["BodySizeLimit", "BodyTooLarge", "KnownMethodsOnly", "Unexpected"]

log = logging.getLogger("slolab.services.predictor.app")


async def _send_json(send: Send, status: int, body: dict, headers: list | None = None) -> None:
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


class BodyTooLarge(HTTPException):
    """Raised while reading: an HTTPException, so the app's error handler answers it."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the body is larger than {max_bytes} bytes")


class BodySizeLimit:
    """Answer 413 to bodies over ``max_bytes``: by Content-Length up front, else while reading.

    (Starlette's own RequestBodyLimitMiddleware answers in plain text, replacing our
    JSON error whenever Content-Length is too large; this keeps the documented body.)
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = {"error": f"the body is larger than {self.max_bytes} bytes", "field": "body"}
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_large = int(value) > self.max_bytes
                except ValueError:
                    too_large = False  # the server refuses a malformed length itself
                if too_large:
                    await _send_json(send, 413, error, [(b"connection", b"close")])
                    return
        # Chunked (or lying) bodies: count what is actually read.
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        watch = ResponseWatch(send)
        try:
            await self.app(scope, counting_receive, watch)
        except BodyTooLarge:
            if watch.started:
                raise
            await _send_json(send, 413, error, [(b"connection", b"close")])


class KnownMethodsOnly:
    """Refuse made-up HTTP methods before the metrics middleware: each would be a new label.

    ``allowed(path)`` names the methods the path does support (the Allow header).
    """

    def __init__(self, app: ASGIApp, allowed: Callable[[str], Iterable[str]]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in KNOWN_METHODS:
            allow = ", ".join(sorted(self.allowed(scope["path"]))).encode()
            await _send_json(send, 405, {"error": "method not allowed"}, [(b"allow", allow)])
            return
        await self.app(scope, receive, send)


class Unexpected:
    """Answer an unhandled exception with a JSON 500 and log it once, as one JSON line.

    Starlette's own catch-all answers and then re-raises to the server, which logs the
    traceback a second time in plain text; this one is innermost (inside the metrics
    middleware, which counts the 500) and does not re-raise.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watch = ResponseWatch(send)
        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not watch.started:  # else the server closes the half-sent response
                await _send_json(send, 500, {"error": "internal error"})
