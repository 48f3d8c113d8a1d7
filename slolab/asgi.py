"""One ASGI helper both the predictor's middlewares and the tracing one need."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["ResponseWatch"]


class ResponseWatch:
    """An ASGI ``send`` that remembers whether the response started, and its status.

    Middlewares wrap the downstream ``send`` with it to learn the status they
    count or trace, or whether an error can still be answered (nothing sent yet).
    """

    __slots__ = ("send", "started", "status")

    def __init__(self, send: Callable[[Any], Awaitable[None]], status: int = 500) -> None:
        self.send = send
        self.started = False
        self.status = status  # until the app starts a response: an unhandled error

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
        await self.send(message)
