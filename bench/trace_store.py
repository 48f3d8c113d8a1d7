"""Does the lab's trace store cost the services anything? Receiver vs a discarding sink.

``python -m bench.trace_store`` starts two predictor + tasks pairs in the
default configuration (our tracing, ``SLOLAB_TRACE_KEEP_RATIO`` 10%), one
exporting to the lab's receiver and store (:class:`slolab.lab.otlp.OTLPReceiver`),
one to :class:`bench.sink.DiscardingSink` (answers without decoding), and
optionally two more with every trace exported (``--ratios 0.1,1``). It then
creates tasks with wrk (``POST /api/tasks``: a trace of three spans over both
services) in rounds that alternate the order, and prints medians of the
services' CPU per request (both process trees) and of what the receiving side
(this process: the receiver's or the sink's thread) spent per request. The
services export asynchronously (a batch processor's thread), so a receiver that
answers later or decodes more should not show in their CPU; this measures it.
Results in docs/benchmarks.md ("The lab's trace store").
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench.sink import DiscardingSink
from slolab import wrk
from slolab.lab.otlp import OTLPReceiver
from slolab.lab.procs import ServiceProcess, start_service

SINKS = ("store", "discard")


def _own_cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.trace_store", description=__doc__)
    p.add_argument("--seconds", type=float, default=6.0, help="per wrk run")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--ratios", default="0.1", help="SLOLAB_TRACE_KEEP_RATIO values (a,b,...)")
    args = p.parse_args(argv)
    ratios = [r.strip() for r in args.ratios.split(",") if r.strip()]
    rows: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="slolab-tracebench-") as tmp:
        work = Path(tmp)
        store = stack.enter_context(OTLPReceiver(work / "traces.sqlite3"))
        sink = stack.enter_context(DiscardingSink())
        endpoints = {"store": store.endpoint, "discard": sink.endpoint}
        pairs: dict[tuple[str, str], tuple[ServiceProcess, ServiceProcess]] = {}
        for ratio in ratios:
            for name in SINKS:
                env = {
                    "OTEL_EXPORTER_OTLP_ENDPOINT": endpoints[name],
                    "SLOLAB_TRACE_KEEP_RATIO": ratio,
                    "PREDICTOR_RETRAIN_INTERVAL_S": "0",
                    "LOG_LEVEL": "warning",
                }
                state = work / f"{name}-{ratio}"
                predictor = start_service("predictor", state / "predictor", **env)
                stack.callback(predictor.stop)
                tasks = start_service(
                    "tasks", state / "tasks", **{**env, "PREDICTOR_URL": predictor.url}
                )
                stack.callback(tasks.stop)
                pairs[(name, ratio)] = (tasks, predictor)
        lua = wrk.script("create_task", None, work)
        keys = list(pairs)
        for rnd in range(args.rounds):
            for key in keys if rnd % 2 == 0 else list(reversed(keys)):
                tasks, predictor = pairs[key]
                url = tasks.url + "/api/tasks"
                if rnd == 0:  # warm-up: imports, the model's first calls, SQLite pages
                    wrk.run(wrk.command(url, seconds=2, lua=lua), limit_s=30)
                time.sleep(6)  # the previous pair's last batches (5 s schedule) land first
                svc0 = tasks.cpu_seconds() + predictor.cpu_seconds()
                own0 = _own_cpu()
                argv_ = wrk.command(
                    url, seconds=args.seconds, connections=args.connections, lua=lua
                )
                res, _ = wrk.run(argv_, limit_s=args.seconds + 30)
                time.sleep(6)  # this run's batches reach the receiving side
                svc = tasks.cpu_seconds() + predictor.cpu_seconds() - svc0
                own = _own_cpu() - own0
                n = max(1, res.requests)
                rows.setdefault(key, []).append((res.rps, 1e6 * svc / n, 1e6 * own / n))
                print(
                    f"[{time.strftime('%H:%M:%S')}] r{rnd} {key[0]:<7} ratio {key[1]:<4} "
                    f"{res.rps:6.0f} rps  services {1e6 * svc / n:5.0f} us/req  "
                    f"receiving {1e6 * own / n:4.0f} us/req",
                    file=sys.stderr,
                    flush=True,
                )
        traces, spans = store.store.count()
    print(f"\nthe store holds {traces} traces, {spans} spans; the sink got {sink.batches} batches")
    print("\n| keep ratio | receiving side | rps (median) | services' CPU µs/req (median, range)"
          " | receiving side's CPU µs/req | services vs discarding sink |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for ratio in ratios:
        base = statistics.median(r[1] for r in rows[("discard", ratio)])
        for name in SINKS:
            r = rows[(name, ratio)]
            cpu = [x[1] for x in r]
            med = statistics.median(cpu)
            print(
                f"| {ratio} | {name} | {statistics.median(x[0] for x in r):,.0f} | "
                f"{med:,.0f} ({min(cpu):,.0f}-{max(cpu):,.0f}) | "
                f"{statistics.median(x[2] for x in r):,.0f} | {100 * (med / base - 1):+.1f}% |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
