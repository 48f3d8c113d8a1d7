"""The lab's HISTORY step: what replaying the alerts costs, and before/after a change.

    .venv/bin/python -m bench.history                        # 30 days, 1 round
    .venv/bin/python -m bench.history --days 3 --before /tmp/main-src --rounds 2

Generates ``--days`` of the lab's history once (:mod:`slolab.lab.history`), then
runs :func:`slolab.lab.backfill.backfill` on it, alternating, in configurations:

- ``with alerts``: what ``make lab HISTORY=30d`` does (raw series, the recording
  rules, the alerts' replay, the lab's blocks);
- ``without alerts``: the same with no alert replayed (the rules the alerts read
  alone are still recorded where the dashboard reads them);
- ``before`` (with ``--before DIR``, a tree holding another ``slolab`` package,
  e.g. ``git archive main slolab | tar -x -C DIR``): that code's backfill, with
  alerts, on the same files.

Each configuration runs in its own Python process (``PYTHONPATH`` picks the
code), so none inherits another's imports or memory. The machine is shared:
the load average (1 minute) is recorded before and after each run, and the
ratios within one round are what to read. Results are printed; ``--write``
puts them between the history markers of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.report import write_block

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- history:begin -->", "<!-- history:end -->"

# One backfill in a fresh interpreter: argv = files.json data work alerts(0/1).
_ONE = """
import json, sys, time
from pathlib import Path
from slolab.lab import backfill
from slolab.slo import load
spec = json.loads(Path(sys.argv[1]).read_text())
files = {day: Path(p) for day, p in spec["files"].items()}
rules = [Path(p) for p in spec["rules"]]
tools = backfill.Tools("promtool", "prometheus", Path(sys.argv[3]), echo=lambda m: None)
wanted = backfill.wanted_series(load(spec["slos"]))
extra = {} if sys.argv[4] == "1" else {"alerts": False}
began = time.monotonic()
took = backfill.backfill(files, Path(sys.argv[2]), rules, wanted, spec["start"], spec["end"],
                         tools, **extra)
import slolab
print(json.dumps({"seconds": round(time.monotonic() - began, 1), "took": took,
                  "slolab": slolab.__file__}))
"""


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def _one(code: Path, spec: Path, work: Path, alerts: bool) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    data, scratch = work / "data", work / "work"
    before = _load()
    out = subprocess.run(
        [sys.executable, "-c", _ONE, str(spec), str(data), str(scratch), "1" if alerts else "0"],
        env=env, capture_output=True, text=True, check=True, cwd=code,  # cwd comes first
    )  # fmt: skip
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["code"] = str(code)
    res["load"] = [before, _load()]
    subprocess.run(["rm", "-rf", str(data), str(scratch)], check=True)
    return res


def run(days: int, rounds: int, before: Path | None) -> dict[str, Any]:
    from slolab.lab import history

    configs: dict[str, tuple[Path, bool]] = {
        "with alerts": (REPO, True),
        "without alerts": (REPO, False),
    }
    if before is not None:
        configs["before, with alerts"] = (before, True)
    out: dict[str, Any] = {"days": days, "rounds": rounds, "cpus": os.cpu_count(), "runs": {}}
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        work = Path(tmp)
        past = history.generate(time.time(), timedelta(days=days))
        files = history.write_openmetrics(past, work / "om")
        spec = work / "spec.json"
        spec.write_text(json.dumps({
            "files": {d: str(p) for d, p in files.items()},
            "rules": [str(p) for p in sorted((REPO / "prometheus" / "rules").glob("*.yml"))],
            "slos": str(REPO / "slos.yaml"), "start": past.times[0], "end": past.end,
        }))  # fmt: skip
        for r in range(rounds):
            for name, (code, alerts) in configs.items():
                res = _one(code, spec, work / "run", alerts)
                out["runs"].setdefault(name, []).append(res)
                _log(f"round {r + 1}: {name}: {res}")
    return out


def render(res: dict[str, Any]) -> str:
    days = res["days"]
    lines = [
        f"{days} day{'s' if days != 1 else ''} of the lab's history, {res['cpus']} CPUs, "
        f"{res['rounds']} round(s) alternating; medians; stages in seconds; load average "
        "(1 min) before and after the last run.",
        "",
        "| backfill | total (s) | raw | rules | alerts | blocks | load | vs with alerts |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = statistics.median(x["seconds"] for x in res["runs"]["with alerts"])
    for name, runs in res["runs"].items():
        total = statistics.median(x["seconds"] for x in runs)

        def stage(key: str, runs: list[dict[str, Any]] = runs) -> str:
            got = [x["took"][key] for x in runs if key in x["took"]]
            return f"{statistics.median(got):.0f}" if got else "—"

        load = " to ".join(f"{v:g}" for v in runs[-1]["load"])
        lines.append(f"| {name} | {total:.0f} | {stage('raw')} | {stage('rules')} | "
                     f"{stage('alerts')} | {stage('blocks')} | {load} | "
                     f"{total / base:.2f} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--before", type=Path, default=None,
                   help="a folder holding other slolab code, alternated")  # fmt: skip
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = p.parse_args(argv)
    res = run(args.days, args.rounds, args.before)
    text = render(res)
    print(text)
    if args.write:
        write_block(DOC, BEGIN, END, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
