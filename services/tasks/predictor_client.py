"""The tasks service's client of the predictor: estimates on create, ground truth on PATCH.

Every failure becomes a ``PredictorDegraded`` with a reason from a fixed set (the
``reason`` label of the degraded counters); the caller carries on without it.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any

import httpx

from slolab.httptrace import ClientTracing
from slolab.telemetry import lean_tracing

__all__ = [
    "REASONS",
    "URGENT_WORDS",
    "FeedbackRefused",
    "Prediction",
    "PredictorClient",
    "PredictorDegraded",
    "features",
]

REASONS = ("timeout", "unreachable", "error", "fault")
URGENT_WORDS = frozenset(
    {"urgent", "asap", "critical", "blocker", "today", "now", "fix", "immediately", "emergency"}
)
_WORD = re.compile(r"[^\W\d_]+")
_LABELS = frozenset({"low", "medium", "high"})


class PredictorDegraded(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        assert reason in REASONS
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class FeedbackRefused(Exception):
    """The predictor holds a different ground truth for this prediction (its 409)."""


@dataclass(frozen=True)
class Prediction:
    label: str
    prediction_id: str


def features(title: str, due_in_days: float, estimated_hours: float) -> dict[str, Any]:
    """The predictor's input for a task."""
    words = _WORD.findall(title.casefold())
    return {
        "title_length": len(title),
        "urgent_words": sum(w in URGENT_WORDS for w in words),
        "due_in_days": float(due_in_days),
        "estimated_hours": float(estimated_hours),
    }


def _error_text(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("error") or resp.status_code)
    except (ValueError, AttributeError):
        return str(resp.status_code)


class PredictorClient:
    """One pooled httpx client per process, made on first use (after any fork)."""

    def __init__(self, base_url: str, timeout: float, feedback_token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # The predictor takes ground truth only with this credential (SLOLAB_FEEDBACK_TOKEN).
        self._feedback_headers = (
            {"Authorization": f"Bearer {feedback_token}"} if feedback_token else {}
        )
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._pid: int | None = None

    def _http(self) -> httpx.Client:
        pid = os.getpid()
        with self._lock:
            if self._client is None or self._pid != pid:
                # Created lazily, after any fork and once tracing is set up.
                limits = httpx.Limits(max_connections=32, max_keepalive_connections=8)
                transport: Any = httpx.HTTPTransport(limits=limits)
                if lean_tracing():
                    # A CLIENT span only when the trace is kept (the official httpx
                    # instrumentation builds one per call: docs/benchmarks.md).
                    transport = ClientTracing(transport)
                self._client = httpx.Client(
                    base_url=self.base_url, timeout=httpx.Timeout(self.timeout), transport=transport
                )
                self._pid = pid
            return self._client

    def _post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        try:
            resp = self._http().post(path, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise PredictorDegraded("timeout", f"{path} took over {self.timeout}s") from exc
        except httpx.TransportError as exc:
            raise PredictorDegraded("unreachable", f"{path}: {exc!r}") from exc
        if resp.status_code == 409 and path == "/feedback":
            raise FeedbackRefused(_error_text(resp))
        if resp.status_code >= 300:
            raise PredictorDegraded("error", f"{path} answered {resp.status_code}")
        try:
            return resp.json()
        except ValueError as exc:
            raise PredictorDegraded("error", f"{path} answered invalid JSON") from exc

    def predict(self, feats: dict[str, Any]) -> Prediction:
        data = self._post("/predict", feats)
        label = data.get("label") if isinstance(data, dict) else None
        pid = data.get("prediction_id") if isinstance(data, dict) else None
        if label not in _LABELS or not isinstance(pid, str) or not 0 < len(pid) <= 128:
            raise PredictorDegraded("error", "/predict answered an unexpected body")
        return Prediction(label=label, prediction_id=pid)

    def feedback(self, prediction_id: str, true_label: str) -> None:
        """Report ground truth; FeedbackRefused when the predictor has another label."""
        body = {"prediction_id": prediction_id, "true_label": true_label}
        self._post("/feedback", body, self._feedback_headers)

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None
