"""A small Alertmanager webhook receiver: keeps and reports every notification.

The lab runs one so that pages are visible in the terminal without PagerDuty or
Slack; the end-to-end tests run one to see what Alertmanager delivered.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slolab.lab.httpserve import BackgroundHTTPServer, QuietHandler

__all__ = ["AlertReceiver", "Notification", "format_notification", "serve_forever"]

MAX_BODY = 1 << 20
KEEP = 1000  # notifications kept in memory: a long-running receiver must not grow


@dataclass(frozen=True)
class Notification:
    """One webhook call: a group of alerts with one status."""

    received_at: float  # time.time()
    receiver: str
    status: str  # firing | resolved
    alerts: list[dict[str, Any]]
    group_labels: dict[str, str]

    def has(self, *, status: str | None = None, **labels: str) -> bool:
        """True if some alert in this notification has ``status`` and all ``labels``."""
        for alert in self.alerts:
            if status and alert.get("status") != status:
                continue
            if all(alert.get("labels", {}).get(k) == v for k, v in labels.items()):
                return True
        return False


def format_notification(n: Notification) -> str:
    """One line per alert, for a terminal."""
    lines = []
    # ISO 8601 in UTC with its offset: comparable with Alertmanager's and Prometheus' times.
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(n.received_at))
    for alert in n.alerts:
        labels = alert.get("labels", {})
        ann = alert.get("annotations", {})
        word = "PAGE" if labels.get("severity") == "critical" else "ticket"
        state = alert.get("status", n.status).upper()
        lines.append(
            f"{stamp} {state:8} {word:6} {labels.get('alertname', '?')} "
            f"slo={labels.get('slo', '-')} -> {n.receiver}: {ann.get('summary', '')}".rstrip()
        )
    return "\n".join(lines)


class AlertReceiver(BackgroundHTTPServer):
    """HTTP server on ``host:port`` (0 = any free port); POST any path with Alertmanager JSON."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        on_notification: Callable[[Notification], None] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.notifications: list[Notification] = []
        self.on_notification = on_notification
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self.reply(413, {"error": "body too large"})
                    return
                try:
                    body = json.loads(self.read_body() or b"{}")
                    note = Notification(
                        received_at=time.time(),
                        receiver=str(body.get("receiver", "")),
                        status=str(body.get("status", "")),
                        alerts=list(body.get("alerts") or []),
                        group_labels=dict(body.get("groupLabels") or {}),
                    )
                except (ValueError, TypeError, AttributeError):
                    self.reply(400, {"error": "body is not an Alertmanager webhook payload"})
                    return
                receiver._add(note)
                self.reply(200, {"ok": True})

            def do_GET(self) -> None:
                self.reply(200, {"notifications": len(receiver.notifications)})

        super().__init__(Handler, host, port)
        self.url = f"{self.base_url}/alerts"

    def _add(self, note: Notification) -> None:
        with self._cond:
            self.notifications.append(note)
            del self.notifications[:-KEEP]
            self._cond.notify_all()
        if self.on_notification is not None:
            self.on_notification(note)

    def wait_for(
        self, predicate: Callable[[Notification], bool], timeout: float
    ) -> Notification | None:
        """Block until a notification matching ``predicate`` arrived (or timeout): return it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for note in self.notifications:
                    if predicate(note):
                        return note
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)


def serve_forever(host: str, port: int) -> None:
    """Run a receiver that prints every alert it gets (compose's default receiver)."""

    def show(note: Notification) -> None:
        print(format_notification(note), flush=True)

    with AlertReceiver(host, port, on_notification=show) as receiver:
        print(f"alert receiver listening on {receiver.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
