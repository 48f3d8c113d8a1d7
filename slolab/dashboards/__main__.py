"""Write the dashboards: ``python -m slolab.dashboards [--check] [--root DIR] [-f FILE]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from slolab.dashboards import render
from slolab.slo.generate import Plan
from slolab.slo.model import load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slolab.dashboards", description=__doc__)
    parser.add_argument("--file", "-f", default="slos.yaml", help="SLO file (default slos.yaml)")
    parser.add_argument("--root", default=".", help="repository root to write into")
    parser.add_argument("--check", action="store_true", help="exit 2 if a file is stale")
    args = parser.parse_args(argv)
    root = Path(args.root)
    plan = Plan(files=dict(render(load(args.file))))  # the dashboards only, no registry
    if args.check:
        stale = plan.stale(root)
        for rel in stale:
            print(f"stale: {rel}", file=sys.stderr)
        return 2 if stale else 0
    for rel in plan.write(root):
        print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
