"""Switch faults on and off through the services' admin API (``/admin/faults``).

Scenarios drive faults from the Locust master only. Every failure (token unset,
service down, 4xx) is logged and reported as ``False``: a fault that could not
be set never stops the load test.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import Any

import requests

__all__ = ["FaultClient", "labeler_headers"]

log = logging.getLogger("loadgen.faults")


def labeler_headers(env: Mapping[str, str]) -> dict[str, str]:
    """The credential tasks asks of ground truth (PATCH ``true_priority``); {} without one.

    ``SLOLAB_FEEDBACK_TOKEN``, else derived from ``SLOLAB_ADMIN_TOKEN`` as the services
    derive it (``slolab.faults.feedback_token``; Locust's image has no slolab, a test
    holds the two equal).
    """
    token = env.get("SLOLAB_FEEDBACK_TOKEN", "").strip()
    admin = env.get("SLOLAB_ADMIN_TOKEN", "").strip()
    if not token and admin:
        token = hmac.new(admin.encode(), b"slolab feedback", hashlib.sha256).hexdigest()
    return {"Authorization": f"Bearer {token}"} if token else {}


class FaultClient:
    """PUT/DELETE ``/admin/faults`` of each service with the admin bearer token."""

    def __init__(
        self,
        urls: Mapping[str, str],
        token: str | None,
        *,
        timeout: float = 3.0,
        session: requests.Session | None = None,
    ) -> None:
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self.token = token or None
        self.timeout = timeout
        self.session = session or requests.Session()
        self.calls: list[tuple[str, str, dict[str, Any] | None, bool]] = []
        self._warned = False

    def _send(self, method: str, service: str, body: dict[str, Any] | None) -> bool:
        if self.token is None:
            if not self._warned:
                log.warning("SLOLAB_ADMIN_TOKEN is not set: faults are not switched")
                self._warned = True
            self.calls.append((method, service, body, False))
            return False
        url = f"{self.urls[service]}/admin/faults"
        try:
            resp = self.session.request(
                method,
                url,
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.timeout,
            )
            ok = resp.status_code < 300
            if not ok:
                log.warning("%s %s -> %s %s", method, url, resp.status_code, resp.text[:200])
        except requests.RequestException as exc:
            log.warning("%s %s failed: %s", method, url, exc)
            ok = False
        else:
            if ok:
                log.info("%s %s faults %s", service, method, body or "cleared")
        self.calls.append((method, service, body, ok))
        return ok

    def set(self, service: str, **faults: Any) -> bool:
        """Switch faults on (or change them); ``expires_in_s`` ends them by itself."""
        return self._send("PUT", service, dict(faults))

    def clear(self, service: str) -> bool:
        """Switch every fault of ``service`` off."""
        return self._send("DELETE", service, None)
