"""Start, watch and stop the lab's processes.

Each process runs in its own session (process group), so stopping it also
stops what it forked (gunicorn workers, uvicorn reloaders): SIGTERM to the
group, then SIGKILL after a timeout. Output goes to one log file per process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = [
    "ManagedProcess",
    "NotReadyError",
    "PortBusyError",
    "Supervisor",
    "busy_ports",
    "check_ports",
    "port_is_free",
]


class NotReadyError(RuntimeError):
    """A component did not become ready (or exited); the message names its log file."""


class PortBusyError(RuntimeError):
    """A port the lab needs is taken."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Without SO_REUSEADDR a port in TIME_WAIT would look busy to us but not to servers.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def busy_ports(ports: Mapping[str, int], host: str = "127.0.0.1") -> dict[str, int]:
    """The subset of ``{component: port}`` that something else already listens on."""
    return {name: port for name, port in ports.items() if not port_is_free(port, host)}


def check_ports(ports: Mapping[str, int], env_names: Mapping[str, str], host: str = "127.0.0.1"):
    """Raise :class:`PortBusyError` naming every busy port and the variable that moves it."""
    dupes = {p for p in ports.values() if list(ports.values()).count(p) > 1}
    if dupes:
        names = [f"{n}={p}" for n, p in ports.items() if p in dupes]
        raise PortBusyError(f"the same port is configured twice: {', '.join(names)}")
    busy = busy_ports(ports, host)
    if busy:
        lines = [
            f"port {port} ({name}) is already in use on {host}: stop what listens there "
            f"(perhaps an earlier lab: `ss -ltnp 'sport = :{port}'`) or set {env_names[name]}"
            for name, port in busy.items()
        ]
        raise PortBusyError("\n".join(lines))


@dataclass
class ManagedProcess:
    name: str
    argv: Sequence[str]
    log_path: Path
    popen: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exited(self) -> int | None:
        return self.popen.poll()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """Owns the processes of one lab run; stops all of them, newest first."""

    def __init__(self, log_dir: Path, *, stop_timeout: float = 10.0) -> None:
        self.log_dir = log_dir
        self.stop_timeout = stop_timeout
        self.procs: list[ManagedProcess] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ManagedProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
            log.flush()
            try:
                popen = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=dict(env) if env is not None else None,
                    cwd=cwd,
                    start_new_session=True,  # own process group: we stop its children too
                )
            except OSError as exc:
                raise NotReadyError(f"{name}: cannot start {argv[0]}: {exc}") from None
        proc = ManagedProcess(name, list(argv), log_path, popen)
        self.procs.append(proc)
        return proc

    def get(self, name: str) -> ManagedProcess:
        for proc in self.procs:
            if proc.name == name:
                return proc
        raise KeyError(name)

    def wait_ready(
        self,
        name: str,
        url: str,
        *,
        timeout: float,
        ok: Callable[[httpx.Response], bool] | None = None,
    ) -> float:
        """Poll ``url`` until it answers 2xx; return the seconds it took."""
        proc = self.get(name)
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        with httpx.Client(timeout=2.0) as client:
            while True:
                code = proc.exited()
                if code is not None:
                    raise NotReadyError(
                        f"{name} exited with code {code} before it was ready; "
                        f"see {proc.log_path}:\n{proc.log_tail()}"
                    )
                try:
                    resp = client.get(url)
                    if resp.is_success and (ok is None or ok(resp)):
                        return time.monotonic() - proc.started_at
                    last = f"HTTP {resp.status_code}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                if time.monotonic() > deadline:
                    raise NotReadyError(
                        f"{name} was not ready at {url} after {timeout:.0f}s ({last}); "
                        f"see {proc.log_path}:\n{proc.log_tail()}"
                    )
                time.sleep(0.2)

    def dead(self) -> list[ManagedProcess]:
        """Processes that exited although nobody asked them to."""
        return [p for p in self.procs if p.exited() is not None]

    def stop(self, name: str | None = None) -> None:
        """Stop one process (or all, newest first): SIGTERM to its group, later SIGKILL."""
        targets = [p for p in reversed(self.procs) if name is None or p.name == name]
        for proc in targets:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for proc in targets:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            # Also when the leader is gone: a worker it left behind may still hold the port.
            _signal_group(proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)
            self.procs.remove(proc)


def _signal_group(proc: ManagedProcess, sig: signal.Signals) -> None:
    # The group id is the leader's pid (start_new_session); it outlives the
    # leader while any member lives, so killpg still reaches orphaned workers.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
