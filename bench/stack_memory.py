"""Peak memory of our compose containers' commands under the ``spike`` load scenario.

    .venv/bin/python -m bench.stack_memory            # about 5 minutes; writes docs/stack.md
    .venv/bin/python -m bench.stack_memory --run-time 40 --no-write   # a quick look

tasks, predictor and alert-receiver run as compose runs them (bench/sandbox.py: uid
10001, read-only root, only the compose tmpfs writable); Locust runs as compose runs
it too (a master and two workers, ``SCENARIO=spike``), on loopback. Before the load,
the predictor's tracker is filled to ``PREDICTOR_MAX_TRACKED`` and the alert receiver's
list to its cap, so both sit at their bounded maximum. Every ``--interval`` seconds we
sample, per container: the resident memory of its process tree (RSS summed: shared
pages count once per process, so this over-states what the cgroup charges) and the
bytes in its tmpfs (tmpfs pages are charged to the container's memory too). The
container healthcheck's own peak (``ru_maxrss``) is measured once. Needs root (a
mount namespace) and wrk.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.sandbox import (
    NATIVE_BINARIES,
    REPO,
    STAND_IN_SECRETS,
    Sandbox,
    can_sandbox,
    load_compose,
    native_command,
    native_overrides,
)
from slolab import wrk
from slolab.contract import ALERT_RECEIVER_URL, PORTS
from slolab.lab.procs import ManagedProcess, free_port, ready_timeout, spawn
from tests.otlp_sink import OTLPSink

DOC = REPO / "docs" / "stack.md"
RESULTS = REPO / "bench" / "results" / "stack-memory.json"
BEGIN, END = "<!-- stack-memory:begin -->", "<!-- stack-memory:end -->"
OURS = ("predictor", "tasks", "alert-receiver")
NATIVE = ("prometheus", "alertmanager", "blackbox")  # Debian's, older than compose pins
MIB = 2**20


@dataclass
class Peak:
    container: str
    rss_mib: float = 0.0  # process tree, at the sample with the largest rss + tmpfs
    tmpfs_mib: float = 0.0
    healthcheck_mib: float = 0.0  # one healthcheck process, if the container has one
    ready_s: float | None = None  # from start to its first 200 on /readyz

    @property
    def total_mib(self) -> float:
        return self.rss_mib + self.tmpfs_mib + self.healthcheck_mib

    def take(self, rss: int, tmpfs: int) -> None:
        if (rss + tmpfs) / MIB > self.rss_mib + self.tmpfs_mib:
            self.rss_mib, self.tmpfs_mib = rss / MIB, tmpfs / MIB


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _tmpfs_bytes(sb: Sandbox) -> int:
    """Bytes in the sandbox's tmpfs mounts, seen through /proc/PID/root (its namespace)."""
    procs = sb.processes()
    if not procs:
        return 0
    total = 0
    for path, _ in sb.spec.tmpfs:
        for dirpath, _, names in os.walk(f"/proc/{procs[0].pid}/root{path}"):
            for name in names:
                with suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def _tree_rss(procs: list[ManagedProcess]) -> int:
    return sum(proc.usage()[1] for proc in procs)


def _healthcheck_peak(url: str) -> float:
    """Peak RSS (MiB, VmHWM) of the bash that runs the image's healthcheck script once.

    The script is sourced so that the same bash reports its own peak afterwards: the
    rusage of a child forked from this Python would include the copy of Python."""
    script = REPO / "docker" / "slolab-healthcheck"
    run = subprocess.run(
        ["bash", "-c", f'. "{script}"; rc=$?; grep VmHWM /proc/$$/status; exit $rc'],
        env={**os.environ, "HEALTHCHECK_URL": url}, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if run.returncode != 0:
        raise RuntimeError(f"healthcheck of {url} failed ({run.returncode}): {run.stderr}")
    return int(run.stdout.split()[1]) / 1024  # kB


def _python_check_peak(name: str, port: int) -> float:
    """Peak RSS (MiB, VmHWM) of the compose healthcheck ``python -c ...`` of ``name``."""
    test = load_compose({"GRAFANA_ADMIN_PASSWORD": "unused"})["services"][name]["healthcheck"]
    code = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", test["test"][3])
    report = "\nprint(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')))"
    run = subprocess.run([sys.executable, "-c", code + report],
                         capture_output=True, text=True, timeout=30)  # fmt: skip
    if run.returncode != 0:
        raise RuntimeError(f"healthcheck of {name} failed: {run.stderr}")
    return int(run.stdout.split()[1]) / 1024


def _ready_times(probes: dict[str, tuple[str, Sandbox]], begun: float,
                 limit_s: float | None = None) -> dict[str, float]:  # fmt: skip
    """Seconds from ``begun`` to each sandbox's first 200 on its URL (all polled together)."""
    ready: dict[str, float] = {}
    limit_s = ready_timeout() if limit_s is None else limit_s
    while len(ready) < len(probes):
        if time.monotonic() - begun > limit_s:
            raise RuntimeError(f"not ready in {limit_s:.0f} s: {set(probes) - set(ready)}")
        for name, (url, sb) in probes.items():
            if name in ready:
                continue
            if not sb.alive():
                raise RuntimeError(f"{name} exited:\n{sb.stop().log[-2000:]}")
            with suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    ready[name] = time.monotonic() - begun
        time.sleep(0.2)
    return ready


def _fill_tracker(url: str, folder: Path, max_tracked: int, limit_s: float) -> int:
    """POST /predict until the tracker holds ``max_tracked`` predictions (it keeps no more)."""
    lua = wrk.script("predict", None, folder)
    sent, started = 0, time.monotonic()
    while sent < max_tracked * 1.05 and time.monotonic() - started < limit_s:
        result, _ = wrk.run(wrk.command(f"{url}/predict", seconds=10, connections=16, lua=lua),
                            limit_s=60)  # fmt: skip
        sent += result.requests
    return sent


def _fill_receiver(url: str, notifications: int) -> None:
    """Post ``notifications`` Alertmanager-shaped webhooks (the receiver keeps a bounded list)."""
    alerts = [{"status": "firing", "labels": {"alertname": f"SLOBurn{i}", "severity": "critical",
               "slo": "tasks-availability"}, "annotations": {"summary": "x" * 200}}
              for i in range(10)]  # fmt: skip
    body = {"receiver": "default", "status": "firing", "alerts": alerts, "groupLabels": {}}
    with httpx.Client(timeout=5) as client:
        for _ in range(notifications):
            client.post(url, json=body).raise_for_status()


def _locust(folder: Path, tasks_url: str, predictor_url: str, run_time: int, users: int,
            web_port: int, stack: ExitStack) -> list[ManagedProcess]:  # fmt: skip
    """A master and two workers, as compose runs them (command lines from compose)."""
    locust = str(Path(sys.executable).with_name("locust"))
    port = free_port()
    env = {**os.environ, "SCENARIO": "spike", "TASKS_URL": tasks_url,
           "PREDICTOR_URL": predictor_url, "LOAD_USERS": str(users)}  # fmt: skip
    file = str(REPO / "loadgen" / "locustfile.py")
    argvs = [
        # compose: --master --autostart, the web UI up (its healthcheck asks it)
        [locust, "-f", file, "--master", "--autostart", "--autoquit", "0",
         "--expect-workers", "2", "--web-host", "127.0.0.1", "--web-port", str(web_port),
         "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
         "-t", f"{run_time}s", "--host", tasks_url, "--only-summary"],
        *[[locust, "-f", file, "--worker", "--master-host", "127.0.0.1",
           "--master-port", str(port)] for _ in range(2)],
    ]  # fmt: skip
    procs = []
    for n, argv in enumerate(argvs):
        proc = spawn(f"locust-{n}", argv, folder / f"locust-{n}.log", env=env, cwd=REPO)
        stack.callback(proc.stop, 20)
        procs.append(proc)
    return procs


def compose_hosts(ports: Mapping[str, int]) -> dict[str, str]:
    """Compose addresses of our containers and the natives (``tasks:8081``) -> their
    loopback ports here; Jaeger and cAdvisor are not run, so theirs stay unmapped."""
    compose_ports = {name: PORTS[name] for name in (*OURS, *NATIVE) if name in PORTS}
    receiver = urlsplit(ALERT_RECEIVER_URL)  # the receiver's port is only in its URL
    if receiver.hostname is not None and receiver.port is not None:
        compose_ports[receiver.hostname] = receiver.port
    return {f"{name}:{port}": f"127.0.0.1:{ports[name]}" for name, port in compose_ports.items()}


def _natives(folder: Path, ports: dict[str, int], stack: ExitStack) -> dict[str, ManagedProcess]:
    """Debian's Prometheus, Alertmanager and blackbox exporter with compose's flags and
    configs, their compose peers mapped to our loopback ports (Jaeger, cAdvisor stay away)."""
    hosts = compose_hosts(ports)
    procs = {}
    for name in NATIVE:
        scratch = folder / name
        scratch.mkdir()
        files = STAND_IN_SECRETS if name == "alertmanager" else None
        argv, dropped = native_command(name, scratch, ports[name], hosts=hosts, files=files)
        if dropped:
            _log(f"{name}: Debian's version lacks {dropped}; started without them")
        procs[name] = spawn(name, argv, folder / f"{name}.log", cwd=scratch)
        stack.callback(procs[name].stop, 20)
    return procs


def measure(run_time: int, users: int, interval: float, fill_limit_s: float) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="stack-memory-"))
    peaks = {name: Peak(name) for name in (*OURS, "locust-master", "locust-worker", *NATIVE)}
    ports = {name: free_port() for name in (*OURS, *NATIVE)}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with ExitStack() as stack:
        sink = stack.enter_context(OTLPSink())
        boxes: dict[str, Sandbox] = {}
        begun = time.monotonic()
        for name in OURS:
            env, command = native_overrides(
                name, ports[name], peers={"predictor": url["predictor"], "otlp": sink.endpoint}
            )
            boxes[name] = Sandbox.for_service(name, log=folder / f"{name}.log", env=env,
                                              command=command)  # fmt: skip
            boxes[name].start()
            stack.callback(boxes[name].stop)
        for name, ready_s in _ready_times({n: (f"{url[n]}/readyz", boxes[n]) for n in OURS},
                                          begun).items():  # fmt: skip
            peaks[name].ready_s = ready_s
        for name in OURS:
            peaks[name].healthcheck_mib = _healthcheck_peak(f"{url[name]}/readyz")
        natives = _natives(folder, ports, stack)
        max_tracked = int(boxes["predictor"].spec.env.get("PREDICTOR_MAX_TRACKED", "100000"))
        _log(f"filling the predictor's tracker to {max_tracked:,} predictions")
        sent = _fill_tracker(url["predictor"], folder, max_tracked, fill_limit_s)
        _log(f"sent {sent:,} predictions; filling the alert receiver")
        _fill_receiver(f"{url['alert-receiver']}/alerts", 1100)
        _log(f"Locust spike scenario, {users} users, {run_time} s")
        web_port = free_port()
        procs = _locust(folder, url["tasks"], url["predictor"], run_time, users, web_port, stack)
        started = time.monotonic()
        procs[0].wait_ready(f"http://127.0.0.1:{web_port}/")
        peaks["locust-master"].healthcheck_mib = _python_check_peak("locust-master", web_port)
        while procs[0].exited() is None and time.monotonic() - started < run_time + 60:
            for name in OURS:
                peaks[name].take(boxes[name].rss_bytes(), _tmpfs_bytes(boxes[name]))
            peaks["locust-master"].take(_tree_rss(procs[:1]), 0)
            for worker in procs[1:]:
                peaks["locust-worker"].take(_tree_rss([worker]), 0)
            for name, proc in natives.items():
                peaks[name].take(_tree_rss([proc]), 0)
            time.sleep(interval)
        summary = (folder / "locust-0.log").read_text(errors="replace")
        crashed = [name for name, sb in boxes.items() if not sb.alive()]
        crashed += [name for name, proc in natives.items() if proc.exited() is not None]
    failures = re.findall(r"Aggregated\s+\d+\s+(\d+)\(", summary)
    requests = re.findall(r"Aggregated\s+(\d+)\s+\d+\(", summary)
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(),
               "kernel": platform.release()}  # fmt: skip
    settings = {"scenario": "spike", "users": users, "run_time_s": run_time,
                "interval_s": interval, "predictions_before": sent}  # fmt: skip
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine,
        "settings": settings,
        "locust": {
            "requests": int(requests[-1]) if requests else None,
            "failures": int(failures[-1]) if failures else None,
        },
        "crashed": crashed,
        "spans_exported": len(sink.snapshot()),
        "peaks": {name: {**asdict(p), "total_mib": p.total_mib} for name, p in peaks.items()},
    }


def render(results: dict) -> str:
    s = results["settings"]
    lines = [
        BEGIN,
        f"Measured {results['date']} by `python -m bench.stack_memory` "
        f"(`{s['scenario']}`, {s['users']} users, {s['run_time_s']} s, sampled every "
        f"{s['interval_s']:g} s, {s['predictions_before']:,} predictions first; "
        f"Locust: {results['locust']['requests']} requests, "
        f"{results['locust']['failures']} failures). MiB:",
        "",
        "| container | process tree RSS | tmpfs | healthcheck | peak | peak x 1.5 "
        "| ready after s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, p in results["peaks"].items():
        label = f"{name} ({NATIVE_BINARIES[name]} from Debian)" if name in NATIVE else name
        lines.append(
            f"| {label} | {p['rss_mib']:.0f} | {p['tmpfs_mib']:.1f} | {p['healthcheck_mib']:.1f} "
            f"| {p['total_mib']:.0f} | {p['total_mib'] * 1.5:.0f} "
            f"| {'' if p['ready_s'] is None else format(p['ready_s'], '.1f')} |"
        )
    lines.append(END)
    return "\n".join(lines)


def write_doc(results: dict) -> None:
    text = DOC.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + render(results) + text[end:])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stack_memory", description=__doc__)
    p.add_argument("--run-time", type=int, default=170,
                   help="Locust seconds (the spike runs from 120 to 150 s)")  # fmt: skip
    p.add_argument("--users", type=int, default=10, help="LOAD_USERS (compose default 10)")
    p.add_argument("--interval", type=float, default=0.5, help="sampling period, seconds")
    p.add_argument("--fill-limit", type=float, default=120, help="seconds to fill the tracker")
    p.add_argument("--no-write", action="store_true", help="print only; leave the doc alone")
    args = p.parse_args(argv)
    reason = can_sandbox()
    if reason:
        p.error(reason)
    # SIGTERM unwinds like Ctrl-C, so every sandbox and Locust process is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    results = measure(args.run_time, args.users, args.interval, args.fill_limit)
    print(render(results))
    if results["crashed"]:
        _log(f"crashed during the run: {results['crashed']}")
        return 1
    if not args.no_write:
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        write_doc(results)
        _log(f"wrote {RESULTS.relative_to(REPO)} and {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
