"""Instructions per request, in process, per configuration: a measure that repeats.

Wall-clock CPU per request on 2 shared cores moves with the neighbours' load,
the CPU's frequency and caches, and (for tasks) with how granian's workers
share the connections. The number of instructions a request executes does
not: ``python -m bench.instructions`` runs ``bench.profile --markers`` under
valgrind's callgrind (``perf stat`` has no hardware counters on these virtual
machines: ``<not supported>``), counts the instructions of ``--calls`` requests
of each workload after a warm-up, between two marker calls, the spans of the
window exported to a local discarding endpoint inside it, and prints them per
request and against ``off``. ``PYTHONHASHSEED`` is fixed so that two runs walk
the same dicts and sets. Each configuration is its own process (tracing is set
up once per process); ``create`` calls a real predictor of the same
configuration, whose own instructions are not counted here (``predict`` has
them).

    .venv/bin/python -m bench.instructions                    # every workload, ~10 min
    .venv/bin/python -m bench.instructions --only list --modes off,default --calls 100
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.profile import COMPONENTS, PROFILE_MODES
from bench.run import CONFIGS, EXPORTING
from bench.sink import DiscardingSink
from slolab.lab.procs import start_service

__all__ = ["MODES", "WORKLOADS", "Count", "count", "main"]

REPO = Path(__file__).resolve().parents[1]
MODES = ("off", "metrics", "default", "anchor")
WORKLOADS = ("list", "predict", "create")
# Requests counted per cell. The kept spans of the window leave in one batch, and
# one OTLP/HTTP post costs ~3.5 M instructions whatever its size (bench.microcount):
# at 100 requests (~10 kept traces) it alone added 35-70 k per request, where a
# service under load posts batches of up to 512 spans. 500 requests: ~50 per batch.
CALLS = 500
_SUMMARY = re.compile(rb"^(?:summary|totals): (\d+)", re.M)


@dataclass(frozen=True)
class Count:
    workload: str
    mode: str
    calls: int
    instructions: int

    @property
    def per_request(self) -> float:
        return self.instructions / self.calls


_MARKS_C = b"""
#include <valgrind/callgrind.h>
void bench_start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void bench_dump(void) { CALLGRIND_DUMP_STATS; CALLGRIND_STOP_INSTRUMENTATION; }
"""


def _client_requests(workdir: Path) -> Path | None:
    """A tiny library issuing callgrind's client requests, if a C compiler and
    valgrind's headers are here: the start-up (imports) then runs uninstrumented,
    several times faster. None: fall back to the marker functions."""
    src, lib = workdir / "marks.c", workdir / "libbenchmarks.so"
    src.write_bytes(_MARKS_C)
    built = subprocess.run(
        ["cc", "-shared", "-fPIC", "-O1", "-o", str(lib), str(src)], capture_output=True
    )
    return lib if built.returncode == 0 else None


def _callgrind(
    workload: str, mode: str, calls: int, env: dict[str, str], out: Path, lib: Path | None
) -> int:
    """Instructions of ``calls`` requests between the markers (bench/profile.py)."""
    if lib is not None:
        window = ["--instr-atstart=no"]
        env = {**env, "BENCH_CALLGRIND_LIB": str(lib)}
    else:
        window = ["--zero-before=os_getloadavg", "--dump-before=sys_getswitchinterval"]
    argv = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *window,
        sys.executable, "-m", "bench.profile", workload, "--mode", mode,
        "--calls", str(calls), "--markers",
    ]  # fmt: skip
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{workload} {mode}: {done.stderr.decode(errors='replace')[-2000:]}")
    # The dump at the second marker is the first numbered part: OUT.1
    part = out.with_name(out.name + ".1")
    found = _SUMMARY.search(part.read_bytes())
    if found is None:
        raise RuntimeError(f"{workload} {mode}: no instruction total in {part}")
    return int(found.group(1))


@contextmanager
def _predictor(mode: str, sink_url: str, workdir: Path) -> Iterator[str]:
    settings, exporting = COMPONENTS.get(mode, (CONFIGS.get(mode), mode in EXPORTING))
    env = {**(settings or {}), "PREDICTOR_RETRAIN_INTERVAL_S": "0", "SLOLAB_TRACE_SLOW_S": "3600"}
    if exporting:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink_url
    svc = start_service("predictor", workdir / f"predictor-{mode}", **env)
    try:
        yield svc.url
    finally:
        svc.stop()


def count(
    workloads: tuple[str, ...],
    modes: tuple[str, ...],
    calls: int,
    log: Callable[[str], None] = lambda _: None,
    jobs: int | None = None,
) -> list[Count]:
    """Count every (workload, configuration), one callgrind process each, ``jobs`` at a
    time (default: one per CPU; the counts do not depend on what runs beside them)."""
    with ExitStack() as stack:
        sink = stack.enter_context(DiscardingSink())
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="slolab-instr-")))
        lib = _client_requests(workdir)

        def one(workload: str, mode: str) -> Count:
            env = {
                **os.environ,
                "PYTHONHASHSEED": "0",
                # Under valgrind a request runs ~50x slower: no request may count as
                # slow, or the share of kept (exported) traces would follow the clock.
                "SLOLAB_TRACE_SLOW_S": "3600",
                # Exports only when flushed at the markers (or 512 queued): where a
                # batch falls does not depend on the clock.
                "OTEL_BSP_SCHEDULE_DELAY": "3600000",
                "BENCH_OTLP_ENDPOINT": sink.endpoint,
            }
            with ExitStack() as per_run:
                if workload == "create":
                    env["PREDICTOR_URL"] = per_run.enter_context(
                        _predictor(mode, sink.endpoint, workdir)
                    )
                    env["PREDICTOR_TIMEOUT"] = "30"  # valgrind is slow, the predictor not
                t0 = time.monotonic()
                total = _callgrind(workload, mode, calls, env, workdir / f"{workload}-{mode}", lib)
            log(
                f"{workload:<8} {mode:<8} {total / calls / 1e6:8.3f} M instructions/request"
                f"  ({time.monotonic() - t0:.0f} s)"
            )
            return Count(workload, mode, calls, total)

        cells = [(w, m) for w in workloads for m in modes]
        with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
            return list(pool.map(lambda cell: one(*cell), cells))


def table(counts: list[Count]) -> str:
    """A markdown table: instructions per request and the change against ``off``."""
    base = {c.workload: c.per_request for c in counts if c.mode == "off"}
    modes = list(dict.fromkeys(c.mode for c in counts))
    lines = [
        "| workload | " + " | ".join(modes) + " |",
        "|---|" + "---:|" * len(modes),
    ]
    for workload in dict.fromkeys(c.workload for c in counts):
        cells = []
        for mode in modes:
            (c,) = [x for x in counts if x.workload == workload and x.mode == mode]
            ref = base.get(workload)
            delta = f" ({c.per_request / ref - 1:+.1%})" if ref and mode != "off" else ""
            cells.append(f"{c.per_request / 1e6:.3f} M{delta}")
        lines.append(f"| {workload} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    p.add_argument("--only", default=",".join(WORKLOADS), help="workloads, comma separated")
    p.add_argument("--modes", default=",".join(MODES), help="configurations, comma separated")
    p.add_argument("--calls", type=int, default=CALLS, help="counted requests per configuration")
    p.add_argument("--json", type=Path, help="also save the counts here")
    p.add_argument("--jobs", type=int, default=None, help="cells counted at once (default: CPUs)")
    args = p.parse_args(argv)
    workloads = tuple(x for x in args.only.split(",") if x)
    modes = tuple(x for x in args.modes.split(",") if x)
    unknown = set(workloads) - set(WORKLOADS) or set(modes) - set(PROFILE_MODES)
    if unknown or args.calls < 1 or (args.jobs or 1) < 1:
        p.error(
            f"workloads: {', '.join(WORKLOADS)}; modes: {', '.join(PROFILE_MODES)}; "
            "calls and jobs >= 1"
        )

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    counts = count(workloads, modes, args.calls, log, args.jobs)
    print(table(counts))
    if args.json:
        args.json.write_text(json.dumps([asdict(c) for c in counts], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
