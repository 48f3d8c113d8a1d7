"""Prometheus' memory in the lab after a backfilled month (``HISTORY=30d``).

    .venv/bin/python -m bench.lab_prometheus_memory             # about 8 minutes
    .venv/bin/python -m bench.lab_prometheus_memory --minutes 2 --no-write

Starts ``slolab lab`` as ``make lab HISTORY=30d`` does (steady load), on free
ports with ``LAB_DIR`` in a temporary folder, and samples the resident memory of
its Prometheus every ``--interval`` seconds once it is ready, while every 15 s the
30-day figures are read as ``slolab slo status`` reads them (each SLO's whole
period). Rules over 30-day windows then read a month of samples: this is the
figure compose's ``mem_limit`` rests on (docs/stack.md, "Memory limits"). The
lab's Prometheus is Debian's (2.42); compose pins 3.x, so the figure is for the
older version (the doc says so). Writes bench/results/lab-prometheus-memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from slolab.contract import COMPONENT_PORTS
from slolab.lab.procs import free_port

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "lab-prometheus-memory.json"
MIB = 2**20


def _log(msg: str) -> None:
    print(f"lab-prometheus-memory: {msg}", file=sys.stderr, flush=True)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending += children.get(pid, [])
    return found


def _prometheus_pid(lab: int, port: int) -> int | None:
    for pid in _descendants(lab):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        name = Path(argv[0].decode()).name
        if name == "prometheus" and any(f":{port}".encode() in a for a in argv):
            return pid
    return None


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def measure(minutes: float, interval: float) -> dict:
    ports = {name: free_port() for name in COMPONENT_PORTS}
    prom = f"http://127.0.0.1:{ports['prometheus']}"
    with tempfile.TemporaryDirectory(prefix="lab-prom-mem-") as tmp:
        env = {**os.environ, "LAB_DIR": tmp, "HISTORY": "30d", "SCENARIO": "steady",
               **{var: str(ports[name]) for name, (_, var) in COMPONENT_PORTS.items()}}  # fmt: skip
        log = Path(tmp) / "lab.log"
        begun = time.monotonic()
        with log.open("w") as out:
            lab = subprocess.Popen([str(REPO / ".venv" / "bin" / "slolab"), "lab"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                   start_new_session=True)  # fmt: skip
        try:
            pid = None
            while pid is None or httpx.get(f"{prom}/-/ready", timeout=2).status_code != 200:
                if lab.poll() is not None or time.monotonic() - begun > 600:
                    raise RuntimeError(f"the lab did not start:\n{log.read_text()[-3000:]}")
                time.sleep(2)
                pid = pid or _prometheus_pid(lab.pid, ports["prometheus"])
            ready_s = time.monotonic() - begun
            _log(f"Prometheus ready after {ready_s:.0f} s (pid {pid}); sampling {minutes} min")
            samples: list[tuple[float, int]] = []
            status_env = {**env, "PROMETHEUS_URL": prom}
            start = last_status = time.monotonic()
            statuses = 0
            while time.monotonic() - start < minutes * 60:
                if lab.poll() is not None:
                    raise RuntimeError(f"the lab stopped:\n{log.read_text()[-3000:]}")
                samples.append((time.monotonic() - start, _rss(pid)))
                if time.monotonic() - last_status >= 15:
                    status = [str(REPO / ".venv" / "bin" / "slolab"), "slo", "status"]
                    subprocess.run(status, env=status_env, capture_output=True, timeout=120,
                                   cwd=REPO)  # fmt: skip
                    statuses += 1
                    last_status = time.monotonic()
                time.sleep(interval)
            head = httpx.get(f"{prom}/api/v1/status/tsdb", timeout=10).json()["data"]
            build = httpx.get(f"{prom}/api/v1/status/buildinfo", timeout=10).json()["data"]
            tsdb = next(Path(tmp).rglob("wal")).parent
            peak_t, peak = max(samples, key=lambda s: s[1])
            return {
                "date": time.strftime("%Y-%m-%d"),
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "kernel": platform.release(),
                },
                "prometheus_version": build["version"],
                "settings": {
                    "history": "30d",
                    "scenario": "steady",
                    "minutes": minutes,
                    "interval_s": interval,
                    "slo_status_runs": statuses,
                },
                "ready_after_s": round(ready_s, 1),
                "head_series": head["headStats"]["numSeries"],
                "tsdb_mib": round(_dir_bytes(tsdb) / MIB, 1),
                "rss_first_mib": round(samples[0][1] / MIB, 1),
                "rss_last_mib": round(samples[-1][1] / MIB, 1),
                "rss_peak_mib": round(peak / MIB, 1),
                "peak_at_s": round(peak_t, 1),
            }
        finally:
            os.killpg(lab.pid, signal.SIGTERM)
            try:
                lab.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(lab.pid, signal.SIGKILL)
                lab.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.lab_prometheus_memory", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--minutes", type=float, default=5, help="sampling time once ready")
    p.add_argument("--interval", type=float, default=1.0, help="sampling period, seconds")
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    results = measure(args.minutes, args.interval)
    print(json.dumps(results, indent=2))
    if not args.no_write:
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        _log(f"wrote {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
