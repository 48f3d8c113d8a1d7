"""What a further period costs: one SLO with one period, then with two, on one TSDB.

    .venv/bin/python -m bench.rulecost --days 8 --slos 1 --rounds 1 --evals 1 \
        --no-write --keep /tmp/rulecost
    .venv/bin/python -m bench.periods /tmp/rulecost

The first command backfills (and keeps) 8 days of synthetic traffic for the
shipped SLOs with the history their rules read; this one starts a Prometheus
on that TSDB and prices, with ``slolab slo cost``'s own measure, the rule
groups of tasks-availability as shipped (``period: 30d``) and with
``periods: [30d, 7d]``: the samples every rule reads at one evaluation (the
query API's statistics: a count, the same on every run and machine) and the
series it selects. The difference is what the 7-day period adds.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from slolab.lab.prometheus import PrometheusServer
from slolab.slo.cost import GroupCost, measure
from slolab.slo.model import load
from slolab.slo.query import Prometheus

ROOT = Path(__file__).resolve().parents[1]
SLO = "tasks-availability"


def _table(costs: dict[str, list[GroupCost]]) -> str:
    lines = ["| SLO periods | group | rules | series | samples/eval |", "|---|---|---|---|---|"]
    for label, groups in costs.items():
        for g in groups:
            lines.append(f"| {label} | {g.group} | {g.rules} | {g.series:,} | {g.samples:,} |")
    (one, two) = ({g.group: g for g in groups} for groups in costs.values())
    lines.append("")
    for name, g in two.items():
        extra = g.samples - one[name].samples
        lines.append(f"{name}: {g.rules - one[name].rules:+d} rules, {extra:+,} samples/eval")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.periods", description=__doc__.split("\n")[0])
    p.add_argument("work", type=Path, help="the --keep directory of a bench.rulecost run")
    args = p.parse_args(argv)
    written = args.work / "written"
    if not written.is_file():
        p.error(f"{args.work}: no backfilled TSDB here: run bench.rulecost --keep {args.work}")
    at = float(written.read_text().split()[1])
    (one,) = [s for s in load(ROOT / "slos.yaml") if s.name == SLO]
    two = replace(one, extra_periods=(timedelta(days=7),))
    config = args.work / "periods-prometheus.yml"
    config.write_text("global: {evaluation_interval: 1m}\nrule_files: []\n")
    server = PrometheusServer(config, args.work / "data", args.work / "periods-prometheus.log",
                              retention="400d")  # fmt: skip
    with server, Prometheus(server.url, timeout=300) as prom:
        costs = {
            label: [g for g in measure(prom, [slo], at, rounds=1) if g.style == "ours"]
            for label, slo in (("30d", one), ("30d, 7d", two))
        }
    print(_table(costs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
