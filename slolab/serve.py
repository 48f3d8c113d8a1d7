"""Start a service natively with its production server.

tasks runs under granian's WSGI server (a Rust HTTP layer in front of several
worker processes, metrics in multiprocess mode; ``TASKS_SERVER=gunicorn`` keeps
the former gunicorn gthread server); predictor runs under uvicorn with uvloop +
httptools (one worker by default, so its latency histogram keeps exemplars).
The choice of server is measured in docs/benchmarks.md.
"""

from __future__ import annotations

import importlib
import logging
import os
import resource
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from slolab.contract import PORTS
from slolab.envconfig import env_float, env_int

__all__ = [
    "SERVICES",
    "TASKS_SERVERS",
    "ServiceSpec",
    "build_command",
    "prepare_env",
    "raise_file_limit",
    "serve",
]

TASKS_SERVERS = ("granian", "gunicorn")
# Open files a server should be able to hold: a thousand idle clients and the lab's load
# on top, with room for its own files. Below it a warning is logged at start.
WANTED_FILES = 4096
_RESERVED_FILES = 64  # log, database, metrics files, sockets to the store and predictor

log = logging.getLogger(__name__)


def _granian_log_config() -> str:
    # Package data, found where the package is: services/tasks/ in a checkout,
    # slolab/services/tasks/ in the installed wheel (the Docker image).
    return str(resources.files("slolab.services.tasks") / "granian_log.json")


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    default_port: int
    default_workers: int
    # "module:function" called with the server's environment (a dict it may change)
    # before the server starts: for what every worker must share from the start.
    prepare: str | None = None


# Server settings both tasks servers (granian, gunicorn's config) and uvicorn read:
# written once here.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_TASKS_THREADS = 4  # threads per worker that run the WSGI app
MAX_WORKERS = MAX_THREADS = 64
GRACEFUL_STOP_S = 10  # after SIGTERM, workers get this long to finish their requests

SERVICES: dict[str, ServiceSpec] = {
    "tasks": ServiceSpec("tasks", PORTS["tasks"], 2, "slolab.services.tasks.store:pin_database"),
    "predictor": ServiceSpec("predictor", PORTS["predictor"], 1),
}


def _setting(env: Mapping[str, str], service: str, key: str, default: str) -> str:
    return env.get(f"{service.upper()}_{key}") or default


def _workers(env: Mapping[str, str], spec: ServiceSpec) -> int:
    return env_int(env, f"{spec.name.upper()}_WORKERS", spec.default_workers, 1, MAX_WORKERS)


def workers(service: str, env: Mapping[str, str]) -> int:
    """``<SERVICE>_WORKERS``: worker processes (ValueError naming a bad value)."""
    return _workers(env, SERVICES[service])


def tasks_threads(env: Mapping[str, str]) -> int:
    """``TASKS_THREADS``: threads per tasks worker (ValueError naming a bad value)."""
    return env_int(env, "TASKS_THREADS", DEFAULT_TASKS_THREADS, 1, MAX_THREADS)


def bind_address(service: str, env: Mapping[str, str]) -> tuple[str, str]:
    """(host, port) from ``<SERVICE>_HOST`` and ``<SERVICE>_PORT``; ValueError for a bad port."""
    spec = SERVICES[service]
    host = _setting(env, service, "HOST", DEFAULT_HOST)
    port = _setting(env, service, "PORT", str(spec.default_port))
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{service.upper()}_PORT must be a TCP port number, got {port!r}")
    return host, port


def prepare_env(service: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment the server runs with: state dirs made, metrics dir fresh,
    the service's own preparation done (tasks: its SQLite file pinned)."""
    spec = SERVICES[service]
    out = dict(os.environ if env is None else env)
    state = Path(out.get("SLOLAB_STATE_DIR") or Path(tempfile.gettempdir()) / f"slolab-{service}")
    state.mkdir(parents=True, exist_ok=True)
    out["SLOLAB_STATE_DIR"] = str(state)
    # A fresh start begins from SLOLAB_FAULTS, not from a previous run's faults.
    (state / f"{service}-faults.json").unlink(missing_ok=True)
    if service == "tasks" or _workers(out, spec) > 1:
        # Multiprocess metrics: files of a previous run would be added to this one's.
        mp = Path(out.get("PROMETHEUS_MULTIPROC_DIR") or state / "prometheus-multiproc")
        mp.mkdir(parents=True, exist_ok=True)
        # Only prometheus_client's own files: the variable might point anywhere.
        for stale in mp.glob("*.db"):
            stale.unlink(missing_ok=True)
        out["PROMETHEUS_MULTIPROC_DIR"] = str(mp)
    else:
        out.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if spec.prepare:
        module, _, function = spec.prepare.partition(":")
        getattr(importlib.import_module(module), function)(out)
    return out


def build_command(service: str, env: Mapping[str, str]) -> list[str]:
    """Return argv of the production server for ``service``."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r} (choose from {', '.join(SERVICES)})")
    host, port = bind_address(service, env)
    count = str(workers(service, env))
    if service == "tasks":
        return _tasks_command(env, host, port, count)
    return [
        sys.executable, "-m", "uvicorn", "slolab.services.predictor.app:create_app", "--factory",
        "--host", host, "--port", port, "--workers", count,
        # httptools plus header limits and a header-read timeout (services/predictor/server.py).
        "--loop", "uvloop", "--http", "slolab.services.predictor.server:GuardedHttpToolsProtocol",
        "--no-access-log", "--timeout-graceful-shutdown", str(GRACEFUL_STOP_S),
    ]  # fmt: skip


def tasks_server(env: Mapping[str, str]) -> str:
    """``TASKS_SERVER``: granian (default) or gunicorn."""
    name = (env.get("TASKS_SERVER") or "granian").strip().lower()
    if name not in TASKS_SERVERS:
        raise ValueError(f"TASKS_SERVER must be one of {', '.join(TASKS_SERVERS)}, got {name!r}")
    return name


def _tasks_command(env: Mapping[str, str], host: str, port: str, workers: str) -> list[str]:
    if tasks_server(env) == "gunicorn":
        # Bind, workers and limits are read by the gunicorn config from the same variables.
        return [
            sys.executable, "-m", "gunicorn",
            "-c", "python:slolab.services.tasks.gunicorn_conf",
            "slolab.services.tasks.wsgi:app",
        ]  # fmt: skip
    threads = tasks_threads(env)
    header_timeout = env_float(env, "TASKS_HEADER_TIMEOUT_S", 10.0, 0.1, 60.0)
    header_bytes = env_int(env, "TASKS_MAX_HEADER_BYTES", 16384, 8192, 1 << 20)
    keepalive = env.get("TASKS_KEEPALIVE", "on").strip().lower()
    if keepalive not in ("on", "off"):
        raise ValueError(f"TASKS_KEEPALIVE must be 'on' or 'off', got {keepalive!r}")
    reuseport = env.get("TASKS_REUSEPORT", "off").strip().lower()
    if reuseport not in ("on", "off"):  # read by slolab.granian_serve
        raise ValueError(f"TASKS_REUSEPORT must be 'on' or 'off', got {reuseport!r}")
    # granian's defaults (backlog 1,024, each worker serving backlog/workers connections)
    # locked new clients out behind ~1,024 held ones; the kernel caps the backlog at
    # net.core.somaxconn (4,096 on current Linux).
    backlog = env_int(env, "TASKS_BACKLOG", 4096, 128, 65535)
    # Default: all of the backlog, within what the file limit lets one worker hold.
    fit = max(16, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - _RESERVED_FILES)
    per_worker = env_int(env, "TASKS_MAX_CONNECTIONS", min(backlog, fit), 16, 1 << 20)
    return [
        sys.executable, "-m", "slolab.granian_serve", "--interface", "wsgi",
        "--host", host, "--port", port, "--workers", workers,
        # Threads that run the WSGI app, per worker: a request waiting on the
        # predictor or the store does not hold a whole worker.
        "--blocking-threads", str(threads),
        "--http", "1", "--no-ws",
        # A client that does not finish its request head in time is dropped by the
        # Rust layer; no Python thread waits for it.
        "--http1-header-read-timeout", str(int(header_timeout * 1000)),
        # The request head (line and headers) must fit in this buffer, else 431.
        "--http1-buffer-size", str(header_bytes),
        "--http1-keep-alive" if keepalive == "on" else "--no-http1-keep-alive",
        # Connections each worker serves at once (granian's backpressure); beyond it new
        # ones wait in the listen backlog.
        "--backlog", str(backlog), "--backpressure", str(per_worker),
        "--respawn-failed-workers", "--workers-kill-timeout", str(GRACEFUL_STOP_S),
        "--log-level", (env.get("LOG_LEVEL") or "info").lower(), "--no-access-log",
        # granian's own lines as JSON, like the app's (one format in the log stream).
        "--log-config", _granian_log_config(),
        "slolab.services.tasks.wsgi:app",
    ]  # fmt: skip


def raise_file_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit; return it.

    Every held connection is a file: the usual soft limit (1,024) would take a service
    offline under a thousand idle clients while the hard one allows far more.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # the limit stays; the warning below says so
    return soft


def serve(service: str) -> None:
    """Replace this process with the service's server."""
    files = raise_file_limit()
    if files < WANTED_FILES:
        from slolab.telemetry import configure_logging

        configure_logging(service)
        log.warning(
            "open file limit is %d (ulimit -n): beyond about %d connections at once new "
            "clients wait or are refused; raise it to %d or more",
            files, files - _RESERVED_FILES, WANTED_FILES,
        )  # fmt: skip
    env = prepare_env(service)
    argv = build_command(service, env)
    os.execve(argv[0], argv, env)
