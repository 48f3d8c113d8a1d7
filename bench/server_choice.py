"""Which server for tasks: the same app under each server, side by side.

``python -m bench.server_choice`` starts ``slolab serve tasks`` once per server
(``TASKS_SERVER``) and instrumentation setting, seeds each store alike, then runs
the list workload (``GET /api/tasks?limit=20``, wrk -t2 -c32) in alternating
rounds and prints medians: rps, p99 and the CPU the server's process tree used
per request. Results are ratios within one run (a shared machine); the figures
of the last run are in docs/benchmarks.md ("Choosing the tasks server").
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench.run import SEED_TASKS
from slolab import wrk
from slolab.lab.procs import ServiceProcess, start_service

# label -> settings; granian with its own per-worker SO_REUSEPORT sockets as well
SERVERS = {
    "gunicorn": {"TASKS_SERVER": "gunicorn"},
    "granian": {"TASKS_SERVER": "granian"},
    "granian-reuseport": {"TASKS_SERVER": "granian", "TASKS_REUSEPORT": "on"},
}
PATH = "/api/tasks?limit=20"


def _seed(svc: ServiceProcess) -> None:
    with httpx.Client(base_url=svc.url, timeout=10) as client:
        for i in range(SEED_TASKS):
            client.post("/api/tasks", json={"title": f"seeded task {i}"}).raise_for_status()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.server_choice", description=__doc__)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--instrumentation", default="off,on", help="comma separated: off,on")
    args = p.parse_args(argv)
    modes = [m.strip() for m in args.instrumentation.split(",") if m.strip()]
    rows: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="slolab-srv-") as tmp:
        services: dict[tuple[str, str], ServiceProcess] = {}
        for mode in modes:
            for server, settings in SERVERS.items():
                env = {
                    **settings,
                    "SLOLAB_INSTRUMENTATION": mode,
                    "PREDICTOR_URL": "http://127.0.0.1:9",  # not called by the list
                    "LOG_LEVEL": "warning",
                }
                svc = start_service("tasks", Path(tmp) / f"{server}-{mode}", **env)
                stack.callback(svc.stop)
                _seed(svc)
                services[(server, mode)] = svc
        keys = list(services)
        for rnd in range(args.rounds):
            for key in keys if rnd % 2 == 0 else list(reversed(keys)):
                svc = services[key]
                argv_ = wrk.command(svc.url + PATH, seconds=args.seconds)
                if rnd == 0:
                    wrk.run(wrk.command(svc.url + PATH, seconds=2), limit_s=30)
                cpu0 = svc.cpu_seconds()
                res, _ = wrk.run(argv_, limit_s=args.seconds + 30)
                cpu = svc.cpu_seconds() - cpu0
                us = 1e6 * cpu / max(1, res.requests)
                rows.setdefault(key, []).append((res.rps, res.p99, us))
                print(
                    f"[{time.strftime('%H:%M:%S')}] r{rnd} {key[0]:<9} {key[1]:<4} "
                    f"{res.rps:7.0f} rps  p99 {res.p99:7.1f} ms  {us:5.0f} us/req",
                    file=sys.stderr,
                    flush=True,
                )
    print("| server | instrumentation | rps (median, range) | p99 ms | CPU µs/req | vs gunicorn |")
    print("|---|---|---|---|---|---|")
    for server, mode in rows:
        runs = rows[(server, mode)]
        rps = statistics.median(r[0] for r in runs)
        base = statistics.median(r[0] for r in rows[("gunicorn", mode)])
        print(
            f"| {server} | {mode} | {rps:,.0f} ({min(r[0] for r in runs):,.0f}–"  # noqa: RUF001
            f"{max(r[0] for r in runs):,.0f}) | {statistics.median(r[1] for r in runs):.1f} | "
            f"{statistics.median(r[2] for r in runs):,.0f} | {rps / base - 1:+.0%} rps |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
