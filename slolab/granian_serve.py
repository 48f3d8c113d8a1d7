"""``python -m slolab.granian_serve ARGS``: granian's own command line, with two changes.

Patience with dying workers: granian stops the whole server when a worker dies
twice within 5.5 s of being respawned ("crash loop"), so two quick kills of one
worker (OOM kills, an operator's kill -9) take the service offline, where
gunicorn just respawns. Here
a worker counts as crash-looping only after ``LOOP_RESPAWNS`` respawns within
``LOOP_WINDOW_S`` (a worker that cannot even boot still stops the server, in
~10 s instead of forever). Everything else is granian's CLI unchanged; tested
by tests/reliability/test_tasks_faults.py (repeated worker kills under load).

One listening socket held by the master and inherited by every worker, as
gunicorn has (``TASKS_REUSEPORT=off``, the default): connections wait in its
backlog while a worker restarts, so killing workers (even all at once) resets
only the requests they were serving. granian's own Linux way, one SO_REUSEPORT
socket per worker (``TASKS_REUSEPORT=on``), spreads connections evenly over the
workers — with the shared socket one worker may accept every connection of a
keep-alive client (wrk's 32 all went to one) — but a dying worker takes the
connections queued on it along and, while no worker is up, new ones are
refused (unless the host sets ``net.ipv4.tcp_migrate_req=1``, Linux >= 5.14).
"""

from __future__ import annotations

import os
import socket
import time
from collections import deque
from typing import Any

import granian.cli
from granian.net import SocketSpec
from granian.server import Server

LOOP_RESPAWNS = 5
LOOP_WINDOW_S = 30.0


class _RespawnHistory(dict):  # type: ignore[type-arg]
    """Stands in for granian's ``respawned_wrks`` {worker index: last respawn time}.

    granian clears it after each check and exits when ``get(idx)`` is within 5.5 s
    of now; this reports a time only for a worker respawned ``LOOP_RESPAWNS`` times
    within ``LOOP_WINDOW_S``, and keeps its history across granian's clears.
    """

    def __init__(self) -> None:
        super().__init__()
        self._history: dict[Any, deque[float]] = {}

    def __setitem__(self, idx: Any, when: float) -> None:
        times = self._history.setdefault(idx, deque(maxlen=LOOP_RESPAWNS))
        times.append(when)

    def get(self, idx: Any, default: Any = None) -> Any:
        times = self._history.get(idx)
        now = time.monotonic()
        if times is not None and len(times) == LOOP_RESPAWNS and now - times[0] < LOOP_WINDOW_S:
            return times[-1]
        return default

    def clear(self) -> None:
        pass  # the history outlives granian's per-check clear


class PatientServer(Server):  # type: ignore[misc, valid-type]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.respawned_wrks = _RespawnHistory()

    def _init_shared_socket(self) -> None:
        reuseport = os.environ.get("TASKS_REUSEPORT", "off").strip().lower() == "on"
        if self.bind_uds or reuseport:
            super()._init_shared_socket()
            return
        # granian's path for systems without SO_REUSEPORT balancing, on Linux too.
        self._shd = SocketSpec(self.bind_addr, self.bind_port, self.backlog).build()
        self._sfd = self._shd.get_fd()
        self._ssp = None
        self._sso = socket.socket(fileno=self._sfd)
        self._sso.set_inheritable(True)


def main() -> None:
    granian.cli.Server = PatientServer  # type: ignore[attr-defined]
    granian.cli.entrypoint()


if __name__ == "__main__":
    main()
