"""Shared pieces of the schemathesis runs: configuration and a request tally."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import schemathesis

__all__ = [
    "SEED",
    "CurrentAsgiApp",
    "CurrentWsgiApp",
    "Tally",
    "check_invariants",
    "config",
    "is_positive",
    "one_in",
    "with_token",
]

SEED = 20261123


def config(max_examples: int, **extra: Any) -> schemathesis.Config:
    """Positive and negative data; examples, coverage and fuzzing phases (the pytest ones)."""
    return schemathesis.Config.from_dict(
        {
            "generation": {"mode": "all", "max-examples": max_examples},
            "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
                       "fuzzing": {"enabled": True}},
            "seed": SEED,
            **extra,
        }
    )  # fmt: skip


class CurrentWsgiApp:
    """A WSGI app forwarding to the app of the test running now.

    The schema is loaded once, at collection, but each test builds its own app (fresh
    store and fault state per operation); schemathesis sends every request, its own
    follow-up probes included, to ``schema.app``, so that is set to one of these.
    """

    app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


class CurrentAsgiApp:
    """The same for an ASGI app."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def is_positive(case: schemathesis.Case) -> bool:
    return case.meta is None or case.meta.generation.mode.name.lower() == "positive"


_turns = itertools.count()


def one_in(k: int) -> bool:
    """True every k-th call (deterministic, unlike a hash of the case)."""
    return next(_turns) % k == 0


def with_token(case: schemathesis.Case, token: str) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}


def check_invariants(case: schemathesis.Case, status: int, token: str, admin: tuple[str, ...]):
    """No 5xx; an admin operation never succeeds without the right token."""
    assert status < 500, f"{case.method} {case.formatted_path}: {status}"
    # (OPTIONS is answered by the framework with an Allow header and no body.)
    if case.path.startswith(admin) and 200 <= status < 300 and case.method != "OPTIONS":
        auth = (case.headers or {}).get("Authorization")
        assert auth == f"Bearer {token}", "the admin surface answered without the token"


class Tally:
    """Requests sent, per operation, per phase and per positive/negative data."""

    def __init__(self) -> None:
        self.by_operation: Counter[str] = Counter()
        self.by_kind: Counter[tuple[str, str, str]] = Counter()
        self.statuses: Counter[tuple[str, int]] = Counter()

    def add(self, case: schemathesis.Case, status: int) -> None:
        op = case.operation.label
        phase = case.meta.phase.name.value if case.meta else "explicit"
        mode = "positive" if is_positive(case) else "negative"
        self.by_operation[op] += 1
        self.by_kind[(op, str(phase), mode)] += 1
        self.statuses[(op, status)] += 1

    def summary(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for op, total in sorted(self.by_operation.items()):
            kinds = {f"{p}/{m}": n for (o, p, m), n in sorted(self.by_kind.items()) if o == op}
            codes = {str(s): n for (o, s), n in sorted(self.statuses.items()) if o == op}
            out[op] = {"requests": total, "kinds": kinds, "statuses": codes}
        return out
