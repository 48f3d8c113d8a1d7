"""Two tasks instances on one host share nothing: gunicorn's default control socket
($HOME/.gunicorn/gunicorn.ctl) was one path for all, and starting one unlinked the
other's. Both servers are checked; the second instance starts while the first serves."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.reliability.services import run_service

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_two_instances_share_no_socket_or_file(tmp_path: Path, server: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with ExitStack() as stack:
        first = stack.enter_context(
            run_service("tasks", tmp_path / "a", TASKS_SERVER=server, HOME=str(home))
        )
        second = stack.enter_context(
            run_service("tasks", tmp_path / "b", TASKS_SERVER=server, HOME=str(home))
        )
        for svc in (first, second):
            assert httpx.post(f"{svc.url}/api/tasks", json={"title": "x"}).status_code == 201
        # Nothing in the shared home: no control socket for another instance to unlink.
        assert not list(home.rglob("*")), sorted(map(str, home.rglob("*")))
        first.stop()
        assert httpx.get(f"{second.url}/readyz").status_code == 200
