"""gunicorn settings of the tasks service (read from the environment by gunicorn).

Run: ``python -m gunicorn -c python:slolab.services.tasks.gunicorn_conf
slolab.services.tasks.wsgi:app``
(``slolab serve tasks`` does this). Metrics are in prometheus_client's
multiprocess mode: every worker writes to PROMETHEUS_MULTIPROC_DIR and
``/metrics`` serves the sum.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from slolab.serve import GRACEFUL_STOP_S, bind_address, tasks_threads
from slolab.serve import workers as workers_of


def _from_env(read: Callable[[Mapping[str, str]], Any]) -> Any:
    try:
        return read(os.environ)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


# The same variables, defaults and limits as `slolab serve` gives granian.
bind = ":".join(_from_env(lambda env: bind_address("tasks", env)))
workers = _from_env(lambda env: workers_of("tasks", env))
# Threads per worker: a request waiting on the predictor (up to PREDICTOR_TIMEOUT)
# or the store does not hold a whole worker, and keep-alive clients are served.
worker_class = "gthread"
threads = _from_env(tasks_threads)
timeout = 30  # a worker silent this long is killed and replaced
graceful_timeout = GRACEFUL_STOP_S
keepalive = 5
accesslog = None  # the app logs JSON; request counts are in /metrics
errorlog = "-"
# gunicorn's own lines (start, workers booted or killed) in the app's JSON format.
logconfig_dict = {
    "formatters": {"generic": {"()": "slolab.telemetry.JsonFormatter", "service": "tasks"}}
}
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "slolab-tasks"
# No control socket: its default path ($HOME/.gunicorn/gunicorn.ctl) would be shared,
# and unlinked, by every instance on the host (gunicorn >= 24; older ones ignore it).
control_socket_disable = True
# Heartbeat files on tmpfs: a slow disk must not get healthy workers killed.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"


def on_starting(server: Any) -> None:
    """Give the workers a fresh, empty multiprocess metrics directory."""
    mp = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not mp:
        # Several workers without a shared directory would each serve only their
        # own counts; prometheus_client is not imported yet, so setting it here
        # still reaches every worker.
        mp = tempfile.mkdtemp(prefix="slolab-tasks-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = mp
    path = Path(mp)
    path.mkdir(parents=True, exist_ok=True)
    # Only prometheus_client's own files: the variable might point anywhere.
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    server.log.info("multiprocess metrics in %s", path)


def post_fork(server: Any, worker: Any) -> None:
    # Once per worker, after the fork: the batch span processor's thread and
    # the exporter's connections do not survive fork().
    from slolab.telemetry import setup_tracing

    setup_tracing("tasks")


def worker_exit(server: Any, worker: Any) -> None:
    from slolab.telemetry import shutdown_tracing

    shutdown_tracing()  # flush the spans still queued


def child_exit(server: Any, worker: Any) -> None:
    # Drop the dead worker's live gauges (its counters stay: totals never go back).
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
