"""``python -m bench`` (``make bench``): measure, then write docs/benchmarks.md.

.venv/bin/python -m bench                               # the full run, about 5 minutes
.venv/bin/python -m bench --seconds 3 --rounds 1 --no-write   # a quick look
.venv/bin/python -m bench --render bench/results/latest.json  # tables again, no measuring
.venv/bin/python -m bench --calls 0 ...                 # wall clock only, no instruction counts
.venv/bin/python -m bench --compare A.json B.json       # two saved runs: do they agree?
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bench import instructions, report
from bench.run import MODES, WORKLOADS, Options, as_dicts, run_all

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
RESULTS = REPO / "bench" / "results" / "latest.json"


def _parser() -> argparse.ArgumentParser:
    d = Options()
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=d.seconds, help="per saturation run")
    p.add_argument("--warmup", type=float, default=d.warmup_s, help="before the first round")
    p.add_argument("--rounds", type=int, default=d.rounds, help="saturation rounds")
    p.add_argument("--threads", type=int, default=d.threads, help="wrk threads")
    p.add_argument("--connections", type=int, default=d.connections, help="wrk connections")
    p.add_argument("--paced-seconds", type=float, default=d.paced_seconds,
                   help="per constant-rate run (0: none)")  # fmt: skip
    p.add_argument("--degraded-seconds", type=float, default=d.degraded_seconds,
                   help="per degraded-create run (0: none)")  # fmt: skip
    p.add_argument("--cpu-seconds", type=float, default=d.cpu_seconds,
                   help="per round of CPU per request, one request at a time")  # fmt: skip
    p.add_argument("--cpu-rounds", type=int, default=d.cpu_rounds,
                   help="at most this many such rounds (0: none)")  # fmt: skip
    names = ", ".join(w.name for w in WORKLOADS)
    p.add_argument("--only", default=",".join(d.workloads),
                   help=f"workloads, comma separated ({names})")  # fmt: skip
    p.add_argument("--modes", default=",".join(MODES),
                   help=f"configurations, comma separated ({', '.join(MODES)})")  # fmt: skip
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a setting for both services in every configuration, "
                   "e.g. PREDICTOR_WORKERS=2 (repeatable)")  # fmt: skip
    p.add_argument("--calls", type=int, default=instructions.CALLS,
                   help="requests counted per configuration under callgrind (0: skip)")  # fmt: skip
    p.add_argument("--no-write", action="store_true", help="print only; leave the doc alone")
    p.add_argument("--results", type=Path, default=None, metavar="JSON",
                   help="save the runs here (default: bench/results/latest.json)")  # fmt: skip
    p.add_argument("--render", type=Path, metavar="JSON",
                   help="render saved results into the doc instead of measuring")  # fmt: skip
    p.add_argument("--compare", type=Path, nargs=2, metavar="JSON",
                   help="two saved runs side by side: do they agree? (exit 1 if not)")  # fmt: skip
    return p


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.compare:
        first, second = (json.loads(path.read_text()) for path in args.compare)
        text, agree = report.compare(first, second)
        print(text)
        return 0 if agree else 1
    if args.render:
        results = json.loads(args.render.read_text())
    else:
        only = tuple(x.strip() for x in args.only.split(",") if x.strip())
        unknown = set(only) - {w.name for w in WORKLOADS}
        if unknown:
            _parser().error(f"--only: unknown workload(s) {', '.join(sorted(unknown))}")
        modes = tuple(x.strip() for x in args.modes.split(",") if x.strip())
        if not modes or set(modes) - set(MODES):
            _parser().error(f"--modes: choose from {', '.join(MODES)}")
        if args.calls < 0:
            _parser().error("--calls must be 0 or more")
        if args.rounds < 1 or args.seconds < 1 or args.cpu_seconds < 1:
            _parser().error("--rounds, --seconds and --cpu-seconds must be at least 1")
        if args.cpu_rounds < 0:
            _parser().error("--cpu-rounds must be 0 or more")
        service_env = tuple(tuple(kv.split("=", 1)) for kv in args.set)
        if any(len(kv) != 2 or not kv[0] for kv in service_env):
            _parser().error("--set takes NAME=VALUE")
        opts = Options(
            seconds=args.seconds, warmup_s=args.warmup, rounds=args.rounds,
            threads=args.threads, connections=args.connections,
            paced_seconds=args.paced_seconds, degraded_seconds=args.degraded_seconds,
            cpu_seconds=args.cpu_seconds, cpu_rounds=args.cpu_rounds, workloads=only,
            service_env=service_env, modes=modes,  # type: ignore[arg-type]
        )  # fmt: skip
        started = time.monotonic()
        mach = report.machine()
        runs = run_all(opts, _log)
        counted = [m for m in instructions.MODES if m in modes]
        counts = (
            instructions.count(only, tuple(counted), args.calls, _log)
            if args.calls > 0 and counted
            else []
        )
        _log(f"done in {time.monotonic() - started:.0f} s")
        results = {
            "machine": mach,
            "command": "make bench"
            if argv is None and len(sys.argv) == 1
            else "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv),
            "options": asdict(opts),
            "runs": as_dicts(runs),
            "instructions": [asdict(c) for c in counts],
        }
    block = report.render(results)
    print(block)
    save = args.results or (None if args.no_write or args.render else RESULTS)
    if save is not None and not args.render:
        save.parent.mkdir(parents=True, exist_ok=True)
        save.write_text(json.dumps(results, indent=1) + "\n")
    if not args.no_write:
        report.update_doc(DOC, block)
        _log(f"wrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
