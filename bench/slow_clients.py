"""Slow and silent clients at the scale of issue 11, against each server.

``python -m bench.slow_clients`` starts tasks under granian and under gunicorn (the
anchor: the server that failed) and the predictor, then for each one, in alternating
rounds, times sequential normal requests (the API and ``/metrics``) for ``--seconds``
twice: once alone, once while ``--slow`` connections dribble a request head (a byte
every ``--dribble`` s) and ``--silent`` connections send nothing, both reopened as soon
as the server closes them (an attacker keeps the pressure on). It prints medians per
service: the p50 and worst latency with and without the attack (a ratio within one
run), and the requests that failed or took longer than ``--bound`` seconds.
The fast version of this probe is tests/reliability/test_slow_clients.py.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from slolab.lab.procs import ServiceProcess, start_service

FEATURES = {"title_length": 20, "urgent_words": 0, "due_in_days": 3.0, "estimated_hours": 2.0}
TARGETS = {
    "tasks (granian)": ("tasks", {"TASKS_SERVER": "granian"}, "GET", "/api/tasks?limit=5", None),
    "tasks (gunicorn)": ("tasks", {"TASKS_SERVER": "gunicorn"}, "GET", "/api/tasks?limit=5", None),
    "predictor": ("predictor", {"PREDICTOR_RETRAIN_INTERVAL_S": "0"}, "POST", "/predict", FEATURES),
}


class Attack:
    """``slow`` dribbling and ``silent`` idle connections, each reopened when closed."""

    def __init__(self, url: str, slow: int, silent: int, dribble_s: float) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.addr = (host, int(port))
        self.slow, self.silent, self.dribble_s = slow, silent, dribble_s
        self.reopened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> socket.socket | None:
        try:
            return socket.create_connection(self.addr, timeout=5)
        except OSError:
            return None  # refused (backlog full): tried again next tick

    def _run(self) -> None:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
        slow: list[socket.socket | None] = [self._open() for _ in range(self.slow)]
        silent: list[socket.socket | None] = [self._open() for _ in range(self.silent)]
        sent = 0
        while not self._stop.wait(self.dribble_s):
            byte = head[sent : sent + 1] or b"a"
            sent += 1
            for i, sock in enumerate(slow):
                try:
                    if sock is None:
                        raise OSError
                    sock.send(byte)
                except OSError:
                    if sock is not None:
                        sock.close()
                    slow[i] = self._open()
                    self.reopened += 1
            for i, sock in enumerate(silent):
                if sock is None or _closed(sock):
                    if sock is not None:
                        sock.close()
                    silent[i] = self._open()
                    self.reopened += 1
        for sock in slow + silent:
            if sock is not None:
                sock.close()

    def __enter__(self) -> Attack:
        self._thread.start()
        time.sleep(self.dribble_s * 2)  # the connections are open before timing starts
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def _closed(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def _time_requests(svc: ServiceProcess, method: str, path: str, body, seconds: float, bound: float):
    """(latencies in ms, requests failed or over ``bound``) of sequential normal requests."""
    latencies: list[float] = []
    bad = 0
    end = time.monotonic() + seconds
    with httpx.Client(base_url=svc.url, timeout=bound) as client:
        while time.monotonic() < end:
            for m, p, b in ((method, path, body), ("GET", "/metrics", None)):
                t0 = time.monotonic()
                try:
                    ok = client.request(m, p, json=b).status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.monotonic() - t0) * 1000)
                bad += not ok
    return latencies, bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.slow_clients", description=__doc__)
    p.add_argument("--slow", type=int, default=100)
    p.add_argument("--silent", type=int, default=100)
    p.add_argument("--dribble", type=float, default=3.0, help="seconds between head bytes")
    p.add_argument("--seconds", type=float, default=20.0, help="per timing")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--bound", type=float, default=5.0, help="seconds a normal request may take")
    p.add_argument("--only", default=",".join(TARGETS), help="comma separated")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    rows: dict[tuple[str, bool], list[tuple[float, float, int, int]]] = {}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="slolab-slow-") as tmp:
        services: dict[str, ServiceProcess] = {}
        for i, name in enumerate(names):
            service, env, *_ = TARGETS[name]
            env = {**env, "LOG_LEVEL": "warning", "PREDICTOR_URL": "http://127.0.0.1:9"}
            svc = start_service(service, Path(tmp) / str(i), **env)
            stack.callback(svc.stop)
            services[name] = svc
        for rnd in range(args.rounds):
            for name in names if rnd % 2 == 0 else list(reversed(names)):
                svc = services[name]
                _, _, method, path, body = TARGETS[name]
                for attacked in (False, True):
                    with ExitStack() as attack:
                        if attacked:
                            attack.enter_context(
                                Attack(svc.url, args.slow, args.silent, args.dribble)
                            )
                        lat, bad = _time_requests(svc, method, path, body, args.seconds, args.bound)
                    row = (statistics.median(lat), max(lat), len(lat), bad)
                    rows.setdefault((name, attacked), []).append(row)
                    print(
                        f"[{time.strftime('%H:%M:%S')}] r{rnd} {name:<17} "
                        f"{'attacked' if attacked else 'alone':<8} p50 {row[0]:7.1f} ms  "
                        f"max {row[1]:8.1f} ms  {row[2]:5d} requests  {bad} failed/over bound",
                        file=sys.stderr,
                        flush=True,
                    )
    print(
        f"| service | p50 alone → attacked (ms) | worst attacked (ms) | requests attacked "
        f"| failed or over {args.bound:g} s |"
    )
    print("|---|---|---|---|---|")
    for name in names:
        alone, hit = rows[(name, False)], rows[(name, True)]
        p50a = statistics.median(r[0] for r in alone)
        p50h = statistics.median(r[0] for r in hit)
        print(
            f"| {name} | {p50a:.1f} → {p50h:.1f} (x{p50h / p50a:.1f}) | "
            f"{max(r[1] for r in hit):,.0f} | {sum(r[2] for r in hit)} | {sum(r[3] for r in hit)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
