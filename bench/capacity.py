"""Capacity under an SLO on this machine: `slolab scenario capacity` against a fresh tasks.

    .venv/bin/python -m bench.capacity          # tasks-latency; writes docs/benchmarks.md
    .venv/bin/python -m bench.capacity --slo tasks-availability --no-write

Starts tasks (``slolab serve tasks``) and a Prometheus scraping it every second,
both on free ports; measures the saturated throughput of ``GET /api/tasks``
(wrk, unpaced, ``--connections``); then runs the capacity search with steps of
a tenth of it, up to 1.5 times it. Reported as ratios to the saturated
throughput measured in the same run, and the services' CPU per 100 req/s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

import slolab.slo as slo_pkg
from slolab import wrk
from slolab.lab.procs import free_port, run_service, spawn
from slolab.scenario import capacity as cap
from slolab.slo.views import NO_VALUE

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
RESULTS = REPO / "bench" / "results" / "capacity.json"
BEGIN, END = "<!-- capacity:begin -->", "<!-- capacity:end -->"


@contextmanager
def scraping(jobs: dict[str, str], folder: Path) -> Iterator[str]:
    """A Prometheus on a free port scraping ``jobs`` (name -> base URL) every second."""
    lines = ["global: {scrape_interval: 1s}", "scrape_configs:"]
    for job, url in jobs.items():
        target = url.split("://", 1)[-1]
        lines.append(f"  - {{job_name: {job}, static_configs: [{{targets: ['{target}']}}]}}")
    config = folder / "prometheus.yml"
    config.write_text("\n".join(lines) + "\n")
    port = free_port()
    argv = ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={folder / 'db'}",
            f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    prom = spawn("prometheus", argv, folder / "prometheus.log")
    try:
        url = f"http://127.0.0.1:{port}"
        prom.wait_ready(f"{url}/-/ready")
        # Ready is not scraping: targets arrive with discovery's first update (up to 5 s).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            up = httpx.get(f"{url}/api/v1/query", params={"query": "up == 1"}, timeout=5)
            if len(up.json()["data"]["result"]) == len(jobs):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"Prometheus did not scrape {sorted(jobs)} within 30 s")
        yield url
    finally:
        prom.stop()


def run(slo_name: str, step_seconds: float, connections: int) -> dict:
    slo = next(s for s in slo_pkg.load(REPO / "slos.yaml") if s.name == slo_name)
    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as tmp:
        folder = Path(tmp)
        with (
            run_service("tasks", folder / "tasks") as tasks,
            scraping({"tasks": tasks.url}, folder) as prom,
        ):
            url = f"{tasks.url}/api/tasks"
            saturated, _ = wrk.run(wrk.command(url, seconds=15, connections=connections), 60)
            step = max(10.0, round(saturated.rps / 10, -1))
            plan = cap.Plan(step=step, max_rate=1.5 * saturated.rps, step_seconds=step_seconds,
                            warmup_seconds=5)  # fmt: skip
            result = cap.find_capacity(
                plan,
                cap.wrk_driver(url, "get", connections, 2),
                cap.prometheus_burn(prom, slo, settle=2),
                cap.metrics_cpu({"tasks": tasks.url}),
                slo_name,
                lambda line: print(line, file=sys.stderr, flush=True),
            )
    return {"saturated_rps": saturated.rps, "saturated_p99_ms": saturated.p99,
            "connections": connections, "step_seconds": step_seconds,
            "result": json.loads(cap.to_json(result))}  # fmt: skip


def render(res: dict) -> str:
    r, sat = res["result"], res["saturated_rps"]
    lines = [
        f"SLO {r['slo']}; steps of {res['step_seconds']:g} s; {res['connections']} connections; "
        f"ratios to the saturated throughput of `GET /api/tasks` in the same run (wrk unpaced: "
        f"{sat:,.0f} req/s on this machine then, p99 {res['saturated_p99_ms']:.0f} ms).",
        "",
        "| offered / saturated | achieved / offered | p50 ms | p99 ms | errors | burn "
        "| tasks CPU per 100 req/s (cores) | SLO |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in r["steps"]:
        cores = s["cpu"].get("tasks")
        rps = s["achieved_rps"]
        per100 = f"{cores / rps * 100:.3f}" if cores and rps else NO_VALUE
        burn = "no data" if s["burn"] is None else f"{s['burn']:.2f}x"
        lines.append(
            f"| {s['rate'] / sat:.2f} | {s['achieved_rps'] / s['rate']:.2f} "
            f"| {s['load']['p50_ms']:.1f} | {s['load']['p99_ms']:.1f} | {s['load']['errors']} "
            f"| {burn} | {per100} | {'held' if s['held'] else 'NOT held'} |"
        )
    cap_rps = r["capacity_rps"]
    found = f"{cap_rps / sat:.2f} of the saturated throughput" if cap_rps else "none"
    lines += ["", f"Capacity under {r['slo']}: {found}; stopped: {r['stopped']}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.split("\n")[0])
    p.add_argument("--slo", default="tasks-latency")
    p.add_argument("--step-duration", type=float, default=20.0)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--no-write", action="store_true", help="print only; leave the doc alone")
    args = p.parse_args(argv)
    res = run(args.slo, args.step_duration, args.connections)
    text = render(res)
    print(text)
    if not args.no_write:
        RESULTS.write_text(json.dumps(res, indent=1))
        doc = DOC.read_text()
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
