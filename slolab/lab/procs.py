"""Start, watch and stop processes: the lab's, and the tests' and benchmarks'.

Each process runs in its own session (process group), so stopping it also
stops what it forked (gunicorn workers, uvicorn reloaders): SIGTERM to the
group, then SIGKILL after a timeout. Output goes to one log file per process.

The lab uses a :class:`Supervisor`; tests, benchmarks, the soak and the
backfill start single processes with :func:`spawn` (or a service with
:func:`run_service`), wait with :func:`wait_ready` and stop with :func:`stop`.
Every wait for readiness is bounded by :func:`ready_timeout`, one generous
limit (``SLOLAB_READY_TIMEOUT``) instead of a guess per caller.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

from slolab.envconfig import env_float
from slolab.procmetrics import tree_usage

__all__ = [
    "DEFAULT_READY_TIMEOUT",
    "READY_TIMEOUT_ENV",
    "ManagedProcess",
    "NotReadyError",
    "PortBusyError",
    "ServiceProcess",
    "Supervisor",
    "busy_ports",
    "check_ports",
    "free_port",
    "port_is_free",
    "ready_timeout",
    "run_service",
    "service_env",
    "spawn",
    "start_service",
    "stop",
    "wait_ready",
]

READY_TIMEOUT_ENV = "SLOLAB_READY_TIMEOUT"
# Generous: a cold predictor trains its model first, and CI machines are shared.
# Only a process that never gets ready waits this long; it costs the others nothing.
DEFAULT_READY_TIMEOUT = 120.0
# Variables a service reads; a harness-started service inherits none of them.
_SERVICE_PREFIXES = ("OTEL_", "SLOLAB_", "TASKS_", "PREDICTOR_", "PROMETHEUS_", "MONGO_")


def ready_timeout(env: Mapping[str, str] | None = None) -> float:
    """Seconds to wait for a process to get ready: ``SLOLAB_READY_TIMEOUT`` or 120."""
    source = os.environ if env is None else env
    return env_float(source, READY_TIMEOUT_ENV, DEFAULT_READY_TIMEOUT, 1.0, 24 * 3600.0)


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


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


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

    def usage(self) -> tuple[float, int, int]:
        """(CPU seconds, resident bytes, process count) of the process and its descendants."""
        return tree_usage(self.pid)

    def wait_ready(
        self,
        url: str,
        *,
        timeout: float | None = None,
        ok: Callable[[httpx.Response], bool] | None = None,
    ) -> float:
        """See :func:`wait_ready`."""
        return wait_ready(self, url, timeout=timeout, ok=ok)

    def stop(self, timeout: float = 10.0) -> None:
        """See :func:`stop`."""
        stop([self], timeout)


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    header: bool = False,
) -> ManagedProcess:
    """Start ``argv`` in its own process group, its output appended to ``log_path``.

    ``header`` writes a line with the time and command first (the lab's logs
    collect many runs); off by default, as some tests read every log line as JSON.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        if header:
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
    return ManagedProcess(name, list(argv), log_path, popen)


def wait_ready(
    proc: ManagedProcess,
    url: str,
    *,
    timeout: float | None = None,
    ok: Callable[[httpx.Response], bool] | None = None,
    interval: float = 0.2,
) -> float:
    """Poll ``url`` until it answers 2xx; return the seconds since ``proc`` started.

    Raises :class:`NotReadyError` with the log's tail as soon as the process
    exits, or when ``timeout`` (default :func:`ready_timeout`) runs out.
    """
    limit = ready_timeout() if timeout is None else timeout
    deadline = time.monotonic() + limit
    last = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while True:
            code = proc.exited()
            if code is not None:
                raise NotReadyError(
                    f"{proc.name} exited with code {code} before it was ready; "
                    f"see {proc.log_path}:\n{proc.log_tail(40)}"
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
                    f"{proc.name} was not ready at {url} after {limit:.0f}s ({last}); "
                    f"see {proc.log_path}:\n{proc.log_tail(40)}"
                )
            time.sleep(interval)


def stop(procs: Sequence[ManagedProcess], timeout: float = 10.0) -> None:
    """SIGTERM every process's group at once; SIGKILL what is left after ``timeout``."""
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        # Also when the leader is gone: a worker it left behind may still hold the port.
        _signal_group(proc, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=5)


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
        proc = spawn(name, argv, self.log_dir / f"{name}.log", env=env, cwd=cwd, header=True)
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
        return wait_ready(self.get(name), url, timeout=timeout, ok=ok)

    def dead(self) -> list[ManagedProcess]:
        """Processes that exited although nobody asked them to."""
        return [p for p in self.procs if p.exited() is not None]

    def stop(self, name: str | None = None) -> None:
        """Stop one process (or all, newest first): SIGTERM to its group, later SIGKILL."""
        targets = [p for p in reversed(self.procs) if name is None or p.name == name]
        stop(targets, self.stop_timeout)
        for proc in targets:
            self.procs.remove(proc)


def service_env(
    name: str, state_dir: Path, *, host: str = "127.0.0.1", port: int | None = None, **extra: str
) -> dict[str, str]:
    """The environment of ``slolab serve NAME`` started by a harness.

    This process's environment without anything a service reads (``OTEL_*``,
    ``SLOLAB_*``, ``TASKS_*``, ``PREDICTOR_*``, ``PROMETHEUS_*``, ``MONGO_*``),
    so that only the harness configures the run; then the bind address (a free
    port unless ``port``), ``state_dir`` as ``SLOLAB_STATE_DIR`` and ``extra``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SERVICE_PREFIXES)}
    upper = name.upper()
    env[f"{upper}_HOST"] = host
    env[f"{upper}_PORT"] = str(free_port(host) if port is None else port)
    env["SLOLAB_STATE_DIR"] = str(state_dir)
    env.update(extra)
    return env


@dataclass
class ServiceProcess:
    """One service under ``python -m slolab serve NAME``; its address comes from ``env``."""

    name: str
    env: dict[str, str]
    log: Path
    cwd: Path | None = None
    proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        upper = self.name.upper()
        return f"http://{self.env[f'{upper}_HOST']}:{self.env[f'{upper}_PORT']}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc.pid

    def start(self, *, timeout: float | None = None, probe: str = "/readyz") -> Self:
        """Start it and wait until ``probe`` answers 2xx; stopped again if it does not."""
        argv = [sys.executable, "-m", "slolab", "serve", self.name]
        self.proc = spawn(self.name, argv, self.log, env=self.env, cwd=self.cwd)
        try:
            self.proc.wait_ready(f"{self.url}{probe}", timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM its process group (the server's workers too); SIGKILL after ``timeout``."""
        if self.proc is not None:
            self.proc.stop(timeout)

    def restart(self) -> Self:
        """Stop and start again on the same port with the same environment."""
        self.stop()
        return self.start()

    def usage(self) -> tuple[float, int, int]:
        """(CPU seconds, resident bytes, process count) of the server and its workers."""
        return tree_usage(self.pid)

    def cpu_seconds(self) -> float:
        return self.usage()[0]

    def rss_bytes(self) -> int:
        return self.usage()[1]


def start_service(
    name: str,
    state_dir: Path,
    *,
    log: Path | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    **extra: str,
) -> ServiceProcess:
    """Start ``slolab serve NAME`` (environment from :func:`service_env`); wait until ready.

    Its output goes to ``log``, by default a file beside ``state_dir`` named after it.
    """
    env = service_env(name, state_dir, **extra)
    svc = ServiceProcess(name, env, log or state_dir.with_name(f"{state_dir.name}.log"), cwd)
    return svc.start(timeout=timeout)


@contextlib.contextmanager
def run_service(name: str, state_dir: Path, **kwargs: Any) -> Iterator[ServiceProcess]:
    """:func:`start_service`, always stopped afterwards."""
    svc = start_service(name, state_dir, **kwargs)
    try:
        yield svc
    finally:
        svc.stop()


def _signal_group(proc: ManagedProcess, sig: signal.Signals) -> None:
    # The group id is the leader's pid (start_new_session); it outlives the
    # leader while any member lives, so killpg still reaches orphaned workers.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
