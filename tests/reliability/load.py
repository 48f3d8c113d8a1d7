"""A small closed-loop load of real HTTP requests from threads, recording every outcome."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import httpx

__all__ = ["Load", "Outcome", "percentile"]


@dataclass(frozen=True)
class Outcome:
    n: int  # request number, unique over the run
    started: float  # monotonic
    seconds: float
    status: int | str  # HTTP status, or the name of the transport error
    body: dict | None


Request = Callable[[httpx.Client, int], httpx.Response]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


class Load:
    """``threads`` clients sending ``request(client, n)`` back to back until stopped."""

    def __init__(
        self, url: str, request: Request, threads: int = 6, fresh_connections: bool = False
    ) -> None:
        self.url, self.request, self.threads = url, request, threads
        # A new connection per request spreads requests over gunicorn's workers.
        self.headers = {"Connection": "close"} if fresh_connections else {}
        self.outcomes: list[Outcome] = []
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10, headers=self.headers) as client:
            while not self._stop.is_set():
                n = next(self._numbers)
                t0 = time.monotonic()
                try:
                    resp = self.request(client, n)
                    status: int | str = resp.status_code
                    body = resp.json() if resp.content else None
                except httpx.HTTPError as exc:
                    status, body = type(exc).__name__, None
                with self._lock:
                    self.outcomes.append(Outcome(n, t0, time.monotonic() - t0, status, body))

    def __enter__(self) -> Load:
        self._workers = [
            threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)
        ]
        for w in self._workers:
            w.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for w in self._workers:
            w.join(30)

    def statuses(self) -> Counter[int | str]:
        return Counter(o.status for o in self.outcomes)

    def between(self, start: float, end: float) -> list[Outcome]:
        return [o for o in self.outcomes if start <= o.started < end]
