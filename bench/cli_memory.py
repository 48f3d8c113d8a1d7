"""Resident memory of ``slolab`` commands: this checkout's lazy CLI against an earlier one.

    .venv/bin/python -m bench.cli_memory                      # about 30 s
    .venv/bin/python -m bench.cli_memory --anchor-ref 4547ccc --rounds 5

The anchor is the same command from ``--anchor-ref`` (its ``slolab/`` exported
with ``git archive`` to a temporary folder put first on ``PYTHONPATH``, so the
same interpreter and packages run both). Per round the two alternate, in turns;
each figure is the median over rounds of the process's peak RSS (``VmHWM`` in
``/proc/PID/status``; ``wait4``'s ``ru_maxrss`` would count the forking parent's
pages). A command that exits runs under ``runpy`` and reports its own ``VmHWM``
at the end; ``alert-receiver`` is measured serving: started on a free loopback
port, read once it answers an HTTP request, then stopped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

from slolab.lab.procs import free_port, ready_timeout, spawn, wait_ready

REPO = Path(__file__).resolve().parents[1]

# The commit before the CLI imported its subcommands lazily (issue 8).
DEFAULT_ANCHOR = "4547ccc"
# Commands run from a folder with no slolab/ in it: the working directory comes
# first on sys.path, before PYTHONPATH.
NEUTRAL_CWD = tempfile.gettempdir()
CASES = ("alert-receiver (serving)", "alert-receiver --help", "serve --help", "slo --help")


def export(ref: str, into: Path) -> Path:
    """``slolab/`` as of git ``ref``, written under ``into``; returns ``into``."""
    tar = subprocess.run(["git", "-C", str(REPO), "archive", ref, "slolab"],
                         capture_output=True, check=True).stdout  # fmt: skip
    with tarfile.open(fileobj=BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into


def _hwm_kib(status: str) -> int:
    line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1])


# Runs `slolab ARGV` as `python -m slolab` would, then prints its own peak RSS.
_RUN_AND_REPORT = """
import runpy, sys
sys.argv = ["slolab", *sys.argv[1:]]
try:
    runpy.run_module("slolab", run_name="__main__")
except SystemExit:
    pass
sys.stderr.write(open("/proc/self/status").read())
"""


def _serving(env: dict[str, str]) -> int:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="cli-memory-log-") as logs:
        proc = spawn(
            "alert-receiver",
            [sys.executable, "-m", "slolab", "alert-receiver", "--host", "127.0.0.1",
             "--port", str(port)],
            Path(logs) / "alert-receiver.log", env=env, cwd=NEUTRAL_CWD,
        )  # fmt: skip
        try:
            wait_ready(proc, f"http://127.0.0.1:{port}/", interval=0.05)
            return _hwm_kib(Path(f"/proc/{proc.pid}/status").read_text())
        finally:
            proc.stop()


def measure(case: str, pythonpath: Path) -> int:
    """Peak RSS in KiB of one run of ``case`` with ``pythonpath`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    if case == "alert-receiver (serving)":
        return _serving(env)
    out = subprocess.run(
        [sys.executable, "-c", _RUN_AND_REPORT, *case.split()], env=env, cwd=NEUTRAL_CWD,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=ready_timeout(),
        check=True,
    )  # fmt: skip
    return _hwm_kib(out.stderr)


def run(anchor_ref: str, rounds: int) -> dict[str, dict[str, float]]:
    """Median peak RSS (MiB) per case, for ``anchor`` and ``lazy``."""
    samples: dict[tuple[str, str], list[int]] = {}
    with tempfile.TemporaryDirectory(prefix="cli-memory-") as tmp:
        paths = {"anchor": export(anchor_ref, Path(tmp)), "lazy": REPO}
        for i in range(rounds):
            order = ("anchor", "lazy") if i % 2 == 0 else ("lazy", "anchor")
            for case in CASES:
                for variant in order:
                    samples.setdefault((case, variant), []).append(measure(case, paths[variant]))
    return {
        case: {v: statistics.median(samples[(case, v)]) / 1024 for v in ("anchor", "lazy")}
        for case in CASES
    }


def table(result: dict[str, dict[str, float]], anchor_ref: str) -> str:
    lines = [f"| command | eager CLI ({anchor_ref}), MiB | lazy CLI, MiB | lazy / eager |",
             "|---|---|---|---|"]  # fmt: skip
    for case, m in result.items():
        lines.append(f"| `slolab {case}` | {m['anchor']:.1f} | {m['lazy']:.1f} "
                     f"| {m['lazy'] / m['anchor']:.2f} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cli_memory", description=__doc__)
    p.add_argument("--anchor-ref", default=DEFAULT_ANCHOR, help="git ref of the eager CLI")
    p.add_argument("--rounds", type=int, default=3, help="runs per command and CLI")
    args = p.parse_args(argv)
    print(table(run(args.anchor_ref, args.rounds), args.anchor_ref))
    return 0


if __name__ == "__main__":
    sys.exit(main())
