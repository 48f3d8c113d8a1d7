"""HISTORY backfill: promtool's rule importer (the anchor) against the lab's range queries.

    .venv/bin/python -m bench.backfill              # 6 h of history, 2 rounds each
    .venv/bin/python -m bench.backfill --hours 24 --rounds 3

Both start from the same raw blocks and backfill the same recording rules
(the closure :func:`slolab.lab.backfill.wanted_series` needs). The anchor runs
``promtool tsdb create-blocks-from rules`` per dependency level against a
temporary Prometheus; the lab evaluates each rule with one range query and
writes the results with ``create-blocks-from openmetrics``. Rounds alternate;
the figures are medians, and the ratio is what to read (shared machine).
"""

from __future__ import annotations

import argparse
import glob
import math
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import yaml

from slolab.lab import backfill, binaries, history
from slolab.slo import load

REPO = Path(__file__).resolve().parents[1]


def _promtool_rules(raw: dict[str, Path], data: Path, rules: list[Path], wanted: set[str],
                    start: float, end: float, work: Path) -> None:  # fmt: skip
    """The anchor: promtool's rule importer, level by level, blocks moved into ``data``."""
    # On the rules' 5-minute grid: promtool 2.42's importer wrote no block at all for
    # some ranges off it (tests/slo/test_agreement.py).
    start, end = math.ceil(start / 300) * 300, math.floor(end / 300) * 300
    promtool, prometheus = binaries.find("promtool") or "", binaries.find("prometheus") or ""
    for path in raw.values():
        backfill._blocks(promtool, path, data)
    groups = backfill._load_groups(rules)
    temp = backfill._TempPrometheus(prometheus, data, work, "127.0.0.1")
    for n, names in enumerate(backfill.rule_levels(groups, wanted)):
        kept = [{"name": f"{g['name']}-{n}", "interval": "5m",
                 "rules": [r for r in g.get("rules") or [] if r.get("record") in names]}
                for g in groups]  # fmt: skip
        level = work / f"level-{n}.yml"
        level.write_text(yaml.safe_dump({"groups": [g for g in kept if g["rules"]]}))
        out = work / f"out-{n}"
        temp.start()
        try:
            backfill._run([promtool, "tsdb", "create-blocks-from", "rules", "--quiet",
                           f"--url={temp.url}", f"--start={int(start)}", f"--end={int(end)}",
                           f"--output-dir={out}", str(level)], "promtool rules")  # fmt: skip
        finally:
            temp.stop()
        for block in out.iterdir():
            shutil.move(str(block), str(data / block.name))


def _blocks(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if (p / "meta.json").is_file())


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.backfill", description=__doc__.splitlines()[0]
    )
    p.add_argument("--hours", type=float, default=6)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    rules = [Path(x) for x in sorted(glob.glob(str(REPO / "prometheus" / "rules" / "*.yml")))]
    wanted = backfill.wanted_series(load(REPO / "slos.yaml"))
    tools = {k: binaries.find(k) or "" for k in ("promtool", "prometheus")}
    times: dict[str, list[float]] = {"promtool rules (anchor)": [], "range queries (lab)": []}
    blocks: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        end = time.time()
        past = history.generate(end, timedelta(hours=args.hours))
        raw = history.write_openmetrics(past, Path(tmp) / "om")
        for r in range(args.rounds):
            for name in times:
                work, data = Path(tmp) / f"{r}-{len(name)}-work", Path(tmp) / f"{r}-{len(name)}"
                began = time.monotonic()
                if name.startswith("promtool"):
                    work.mkdir()
                    _promtool_rules(raw, data, rules, wanted, past.times[0], past.end, work)
                else:
                    quiet = backfill.Tools(**tools, work=work, echo=lambda _: None)
                    backfill.backfill(raw, data, rules, wanted, past.times[0], past.end, quiet)
                times[name].append(time.monotonic() - began)
                blocks[name] = _blocks(data)
    anchor = statistics.median(times["promtool rules (anchor)"])
    print(f"{args.hours:g} h of history, {args.rounds} rounds, medians:")
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"  {name:25} {median:6.1f} s  {blocks[name]:4d} blocks  "
            f"({anchor / median:.1f}x the anchor's speed)"
        )


if __name__ == "__main__":
    main()
