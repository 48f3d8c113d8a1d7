"""The schemathesis runs of both services: configuration, request tally and the driver."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from tests.reliability.figures import record
from tests.reliability.services import TOKEN, Service

__all__ = [
    "HYPOTHESIS",
    "SEED",
    "CurrentAsgiApp",
    "CurrentWsgiApp",
    "Fuzz",
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


# Points a positive case at something that exists (a task, a prediction) and may give
# an admin case the token; the callable makes one such thing and returns its id.
Aim = Callable[[schemathesis.Case, Callable[[], str]], None]

IN_PROCESS_EXAMPLES = 300
LIVE_EXAMPLES = 30
MIN_PER_OPERATION = 200  # operations that take any input
HYPOTHESIS = settings(deadline=None, suppress_health_check=list(HealthCheck))


class Fuzz:
    """One service's two runs: in process (heavy, no sockets) and on its real server.

    The schema is loaded once, at collection; the in-process run sends to ``current_app``,
    whose ``app`` each test sets to a fresh one.
    """

    def __init__(
        self,
        service: str,
        server: str,
        document: dict[str, Any],
        current_app: CurrentWsgiApp | CurrentAsgiApp,
        admin: tuple[str, ...],
        aim: Aim,
    ) -> None:
        self.service, self.server, self.admin, self.aim = service, server, admin, aim
        self.current_app = current_app
        self.tally, self.live_tally = Tally(), Tally()
        self.schema = schemathesis.openapi.from_dict(document, config=config(IN_PROCESS_EXAMPLES))
        self.schema.app = current_app  # what from_wsgi/from_asgi set
        self.live_schema = schemathesis.openapi.from_dict(document, config=config(LIVE_EXAMPLES))
        self.session = requests.Session()  # the live run's connections, kept alive

    @contextmanager
    def serving(self, app: Any) -> Iterator[Any]:
        """Send the in-process cases to ``app`` while inside."""
        self.current_app.app = app
        try:
            yield app
        finally:
            self.current_app.app = None

    def module_fixture(self) -> Any:
        """An autouse fixture that, at the end of the module, records the figures and
        closes the live run's connections (assign it to a name in the test module)."""

        @pytest.fixture(scope="module", autouse=True)
        def finish() -> Iterator[None]:
            yield
            self.session.close()
            if self.tally.by_operation:
                record(f"fuzz_{self.service}_in_process", operations=self.tally.summary())
            if self.live_tally.by_operation:
                record(f"fuzz_{self.service}_{self.server}", operations=self.live_tally.summary())

        return finish

    def in_process(self, case: schemathesis.Case, make: Callable[[], str]) -> None:
        """Send one case to the current app and check it."""
        self.aim(case, make)
        response = case.call_and_validate()
        self.tally.add(case, response.status_code)
        check_invariants(case, response.status_code, TOKEN, self.admin)

    def live(self, case: schemathesis.Case, service: Service, make: Callable[[], str]) -> None:
        """Send one case to the running server and check it."""
        self.aim(case, make)
        try:
            response = case.call_and_validate(
                base_url=service.url, session=self.session, timeout=10
            )
        finally:
            if case.path.startswith("/admin/"):  # faults set with the token must not leak on
                httpx.delete(f"{service.url}/admin/faults", headers=service.auth)
        self.live_tally.add(case, response.status_code)
        check_invariants(case, response.status_code, TOKEN, self.admin)

    def check_heavy_enough(self) -> None:
        """Each operation with inputs got a few hundred requests (after the in-process run)."""
        if not self.tally.by_operation:
            pytest.skip("the in-process fuzz did not run in this session")
        ops = {op.label: op for op in (r.ok() for r in self.schema.get_all_operations())}
        assert set(self.tally.by_operation) == set(ops)
        for label, op in ops.items():
            if op.body or any(True for _ in op.iter_parameters()):
                n = self.tally.by_operation[label]
                assert n >= MIN_PER_OPERATION, self.tally.summary()[label]
