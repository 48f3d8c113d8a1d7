"""How tasks' granian workers share keep-alive connections: requests per worker under wrk.

``python -m bench.worker_spread`` starts ``slolab serve tasks`` (2 workers, request
metrics on, tracing off) once per listening setting, then runs wrk's keep-alive
connections against the list in alternating rounds and counts the requests each
worker answered, from prometheus_client's multiprocess files (one per worker
process, ``PROMETHEUS_MULTIPROC_DIR``): the share of the busiest worker says
whether one worker took every connection. Loopback only, bounded in time.

    .venv/bin/python -m bench.worker_spread                  # 3 rounds of 4 s, ~2 min
    .venv/bin/python -m bench.worker_spread --rounds 1 --seconds 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict

from slolab import wrk
from slolab.contract import TASKS_REQUESTS
from slolab.lab.procs import ServiceProcess, start_service

# label -> tasks settings (granian, 2 workers)
SETTINGS = {
    "one shared socket (default)": {},
    "shared socket, TASKS_MAX_CONNECTIONS=16": {"TASKS_MAX_CONNECTIONS": "16"},
    "a socket per worker, TASKS_REUSEPORT=on": {"TASKS_REUSEPORT": "on"},
}
PATH = "/api/tasks?limit=20"


def requests_per_worker(folder: Path) -> Counter[str]:
    """Requests counted so far by each worker process (its multiprocess file's pid)."""
    counts: Counter[str] = Counter()
    for file in folder.glob("counter_*.db"):
        pid = file.stem.rsplit("_", 1)[-1]
        for key, value, _ts, _pos in MmapedDict.read_all_values_from_file(str(file)):
            sample = json.loads(key)[1]
            if sample == TASKS_REQUESTS.name:
                counts[pid] += int(value)
    return counts


def connections_per_worker(pids: list[str], port: int) -> dict[str, int]:
    """Established connections to ``port`` each process holds (its sockets' inodes
    among /proc/net/tcp's entries for the port, state 01)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    inodes.add(fields[9])
    held = {}
    for pid in pids:
        n = 0
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(fd.path)
                    n += target.startswith("socket:[") and target[8:-1] in inodes
        held[pid] = n
    return held


def _metrics_dir(svc: ServiceProcess) -> Path:
    return Path(svc.env["SLOLAB_STATE_DIR"]) / "prometheus-multiproc"


def _look(svc: ServiceProcess, held: dict[str, int]) -> None:
    """Halfway through a run: which worker holds wrk's connections."""
    pids = [f.stem.rsplit("_", 1)[-1] for f in _metrics_dir(svc).glob("counter_*.db")]
    held.update(connections_per_worker(pids, int(svc.url.rsplit(":", 1)[1])))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.worker_spread", description=__doc__)
    p.add_argument("--seconds", type=float, default=4.0, help="per wrk run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=32, help="wrk's keep-alive connections")
    args = p.parse_args(argv)
    if args.rounds < 1 or not 1 <= args.seconds <= 60 or not 1 <= args.connections <= 256:
        p.error("--rounds >= 1, --seconds 1-60, --connections 1-256")
    conns = args.connections
    shares: dict[str, list[tuple[float, int, int, int, int]]] = {}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="slolab-spread-") as tmp:
        services: dict[str, ServiceProcess] = {}
        for i, (label, settings) in enumerate(SETTINGS.items()):
            env = {
                **settings,
                "TASKS_WORKERS": "2",
                "OTEL_SDK_DISABLED": "true",  # request metrics only: the counts come from them
                "PREDICTOR_URL": "http://127.0.0.1:9",  # not called by the list
                "LOG_LEVEL": "warning",
            }
            svc = start_service("tasks", Path(tmp) / f"tasks-{i}", **env)
            stack.callback(svc.stop)
            services[label] = svc
        for rnd in range(args.rounds):
            labels = list(services) if rnd % 2 == 0 else list(reversed(services))
            for label in labels:
                svc = services[label]
                before = requests_per_worker(_metrics_dir(svc))
                cmd = wrk.command(svc.url + PATH, seconds=args.seconds, connections=conns)
                held: dict[str, int] = {}
                timer = threading.Timer(args.seconds / 2, _look, (svc, held))
                timer.start()
                res, _ = wrk.run(cmd, limit_s=args.seconds + 30)
                timer.join()
                after = requests_per_worker(_metrics_dir(svc))
                by_pid = sorted(after, key=lambda k: after[k] - before.get(k, 0), reverse=True)
                per = [after[k] - before.get(k, 0) for k in by_pid] + [0, 0]
                conn = [held.get(k, 0) for k in by_pid] + [0, 0]
                total = max(1, per[0] + per[1])
                shares.setdefault(label, []).append((per[0] / total, per[0], per[1], *conn[:2]))
                print(
                    f"[{time.strftime('%H:%M:%S')}] r{rnd} {label:<42} {res.rps:7.0f} rps  "
                    f"per worker {per[0]:>6} / {per[1]:>6} requests, {conn[0]} / {conn[1]} "
                    f"connections  busiest {per[0] / total:.0%}",
                    file=sys.stderr,
                    flush=True,
                )
    print(
        "| listening | requests per worker, each round (busiest / other) | busiest's share "
        "| wrk's connections held, halfway (same order) |"
    )
    print("|---|---|---|---|")
    for label, runs in shares.items():
        rounds = ", ".join(f"{r[1]:,} / {r[2]:,}" for r in runs)
        share = ", ".join(f"{r[0]:.0%}" for r in runs)
        held_ = ", ".join(f"{r[3]} / {r[4]}" for r in runs)
        print(f"| {label} | {rounds} | {share} | {held_} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
