"""The predictor's HTTP/1.1 protocol: uvicorn's httptools protocol with the limits it lacks.

uvicorn reads a request head of any size and any number of headers, and waits for
a silent connection forever (its keep-alive timeout only starts after a response).
This subclass, given to uvicorn as
``--http slolab.services.predictor.server:GuardedHttpToolsProtocol``
(``slolab serve predictor`` does this), adds:

- a header-read timeout: a connection whose request head is not complete within
  ``PREDICTOR_HEADER_TIMEOUT_S`` of its start (or of the previous response) is closed;
- ``PREDICTOR_MAX_HEADER_BYTES`` for the request line plus headers (431, or 414 when
  the URL alone is too long) and ``PREDICTOR_MAX_HEADERS`` headers (431);
- JSON bodies on these refusals and on uvicorn's own 400 for a malformed request.
"""

from __future__ import annotations

import json
import logging
import os
import time
from asyncio import TimerHandle
from dataclasses import dataclass
from functools import cache
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from slolab.envconfig import env_float, env_int

__all__ = ["GuardedHttpToolsProtocol", "HttpLimits", "limits"]

log = logging.getLogger(__name__)

_REASONS = {400: b"Bad Request", 414: b"URI Too Long", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True)
class HttpLimits:
    header_timeout_s: float = 10.0
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100

    @classmethod
    def from_env(cls, env: Any = None) -> HttpLimits:
        """Build from PREDICTOR_HEADER_TIMEOUT_S, _MAX_HEADER_BYTES and _MAX_HEADERS."""
        env = os.environ if env is None else env
        return cls(
            header_timeout_s=env_float(env, "PREDICTOR_HEADER_TIMEOUT_S", 10.0, 0.1, 3600),
            max_header_bytes=env_int(env, "PREDICTOR_MAX_HEADER_BYTES", 16 * 1024, 8192, 1 << 20),
            max_headers=env_int(env, "PREDICTOR_MAX_HEADERS", 100, 10, 10_000),
        )


@cache
def limits() -> HttpLimits:
    """The limits of this process, read once (a protocol object is made per connection)."""
    return HttpLimits.from_env()


class _Refused(Exception):
    """Raised from a parser callback: the parser stops and the refusal is answered."""


class _Throttle:
    """Count an event and log it at most once per interval (attackers must not flood the log)."""

    def __init__(self, what: str, interval: float = 60.0) -> None:
        self.what, self.interval = what, interval
        self.count = 0
        self._last = -interval

    def hit(self) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            log.warning("%s (%d so far in this process)", self.what, self.count)


_timeouts = _Throttle("closed a connection whose request head did not arrive in time")
_refusals = _Throttle("refused a malformed request or a request head over the limits")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus the limits above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits()
        self._in_head = True  # reading a request head (or waiting for one)
        self._head_bytes = 0
        self._parsed_bytes = 0  # request line and headers parsed so far
        self._header_count = 0
        self._refusal: tuple[int, str] | None = None
        self._head_timer: TimerHandle | None = None
        self._url_seen = False

    # -- header-read timeout ---------------------------------------------------

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self._limits.header_timeout_s, self._head_timed_out
            )

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        busy = self.cycle is not None and not self.cycle.response_complete
        if self._in_head and not busy and not self.transport.is_closing():
            _timeouts.hit()
            self.transport.close()

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    # -- limits ----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        # uvicorn's own version, without its warning per malformed request (unthrottled).
        self._unset_keepalive_if_required()
        if self._in_head:
            self._head_bytes += len(data)
            self._arm_head_timer()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            self.send_400_response("")
            return
        # A request line that ended without a version (HTTP/0.9): httptools waits for
        # more; answer now rather than hold the connection until the header timeout.
        if (
            self._in_head
            and self._url_seen
            and data.endswith(b"\n")
            and self.parser.get_http_version() == "0.0"
        ):
            self._refuse(400, "the request line has no HTTP version (1.0 or 1.1)")
            self.send_400_response("")
            return
        # A head that is still incomplete after this much is refused (bytes after a
        # complete head belong to the body and are not counted).
        too_big = self._in_head and self._head_bytes > self._limits.max_header_bytes
        if too_big and not self.transport.is_closing():
            self._refuse(431, "the request headers are larger than the limit")
            self.send_400_response("")

    def _refuse(self, status: int, message: str) -> None:
        if self._refusal is None:
            self._refusal = (status, message)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed_bytes = self._header_count = 0
        self._url_seen = False

    def on_url(self, url: bytes) -> None:
        self._parsed_bytes += len(url)
        if self._parsed_bytes > self._limits.max_header_bytes:
            self._refuse(414, "the URL is longer than the limit")
            raise _Refused
        self._url_seen = True
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # The head's size as parsed: a head that arrives whole in one read is not
        # caught by the count in data_received.
        self._header_count += 1
        self._parsed_bytes += len(name) + len(value) + 4
        if self._header_count > self._limits.max_headers:
            self._refuse(431, f"more than {self._limits.max_headers} request headers")
            raise _Refused
        if self._parsed_bytes > self._limits.max_header_bytes:
            self._refuse(431, "the request headers are larger than the limit")
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        version = self.parser.get_http_version()
        if version not in ("1.0", "1.1"):  # httptools takes HTTP/0.9 and 2.0 too
            self._refuse(400, f"HTTP version {version} is not served (1.0 or 1.1)")
            raise _Refused
        self._in_head = False
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._in_head and not self.transport.is_closing():
            self._head_bytes = 0
            self._arm_head_timer()  # the next head must come in time as well

    def send_400_response(self, msg: str) -> None:
        """Answer a refused or malformed request head in JSON, then close."""
        self._disarm_head_timer()
        status, message = self._refusal or (400, "malformed HTTP request")
        _refusals.hit()
        body = json.dumps({"error": message}).encode()
        head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])]
        for name, value in self.server_state.default_headers:
            head.append(b"%s: %s\r\n" % (name, value))
        head.append(b"content-type: application/json\r\n")
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self.transport.close()
