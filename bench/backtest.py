"""How long `slolab slo backtest` takes, against promtool's rule importer alone.

    .venv/bin/python -m bench.backtest --anchor-days 3       # 30 days, shipped + 50 SLOs
    .venv/bin/python -m bench.backtest --days 2 --slos 10 --no-write   # a quick look

Backfills ``--days`` of synthetic traffic at a 15 s scrape (bench.rulecost's
generator: the shipped SLOs and a generated ``--slos`` spec) into a TSDB that
one Prometheus serves. Then, alternating, ``--rounds`` times per spec:

- ``backtest``: :func:`slolab.slo.backtest.run` over the whole window (wall
  time; peak memory of the process tree: this Python, the scratch Prometheus
  and promtool, sampled every 0.2 s; the Prometheus holding the raw series is
  the user's and is reported on its own);
- ``importer`` (the anchor): ``promtool tsdb create-blocks-from rules`` for the
  recording rules the same alerts read, at their groups' intervals, against
  the same Prometheus. It records no alerts at all: what the backtest adds on
  top of the importer's work is the alerts, ``for:`` and the budget figures.

The importer's cost grows linearly with the window (one block per rule per
2 hours) and takes hours for 30 days on shared cores: ``--anchor-days N``
runs it (and the backtest again, for a ratio on one window) over the last N
days only, and the table scales its time to ``--days``. The load average is
recorded beside every figure: the machine is shared, read the ratios.

Results go between the backtest markers of docs/benchmarks.md (``--no-write``:
printed only) and into bench/results/backtest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil
import yaml

from bench.report import write_block
from bench.rulecost import DAY, Prom, derive_series, synthetic_spec, write_openmetrics
from slolab.slo import backtest
from slolab.slo.model import SLO, from_spec, load
from slolab.slo.replay import rule_levels, rule_reads
from slolab.slo.spec import parse_spec

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
RESULTS = REPO / "bench" / "results" / "backtest.json"
BEGIN, END = "<!-- backtest:begin -->", "<!-- backtest:end -->"


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def _peak_rss(run: Callable[[], Any], apart: int | None = None) -> tuple[Any, float, int, int]:
    """Run ``run``; its result, wall seconds, the peak RSS of this process tree without the
    process ``apart`` (the source Prometheus), and that of ``apart``."""
    me = psutil.Process()
    peak, peak_apart, done = 0, 0, threading.Event()

    def sample() -> None:
        nonlocal peak, peak_apart
        while not done.is_set():
            try:
                procs = [me, *me.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs if p.pid != apart))
                peak_apart = max(peak_apart, sum(p.memory_info().rss for p in procs
                                                 if p.pid == apart))  # fmt: skip
            except psutil.Error:
                pass
            done.wait(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    began = time.monotonic()
    try:
        result = run()
    finally:
        done.set()
        thread.join()
    return result, time.monotonic() - began, peak, peak_apart


def _importer(url: str, slos: Sequence[SLO], start: int, end: int, work: Path) -> None:
    """promtool's importer over the recording rules the page and ticket alerts read."""
    groups = backtest.rule_groups(slos)
    names = {p.alert for s in slos for p in s.alert_policies}
    alerts = [(g, r) for g in groups for r in g["rules"] if r.get("alert") in names]
    wanted = set().union(*(rule_reads(r) for _, r in alerts))
    needed = {id(r) for level in rule_levels(groups, wanted) for _, r in level}
    kept = [{**g, "rules": [r for r in g["rules"] if id(r) in needed]} for g in groups]
    work.mkdir(parents=True, exist_ok=True)
    path = work / "importer-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [g for g in kept if g["rules"]]}))
    out = work / "importer-blocks"
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "rules", "--quiet", f"--url={url}",
                    f"--start={start}", f"--end={end}", f"--output-dir={out}", str(path)],
                   check=True, capture_output=True)  # fmt: skip


def _backtest(
    url: str, slos: Sequence[SLO], start: int, end: int, work: Path, source: int | None
) -> dict[str, Any]:
    load_before = _load()
    res, secs, rss, src = _peak_rss(lambda: backtest.run(url, slos, start, end, work), source)
    return {
        "days": round((end - start) / DAY),
        "seconds": round(secs, 1),
        "peak_rss_mib": round(rss / 2**20),
        "source_rss_mib": round(src / 2**20),
        "episodes": sum(len(x.episodes) for x in res.slos),
        "took": res.took,
        "load": [load_before, _load()],
    }


def run(days: int, slo_count: int, rounds: int, anchor_days: int | None = None) -> dict[str, Any]:
    anchor_days = anchor_days or days
    specs = {
        "shipped": load(REPO / "slos.yaml"),
        f"{slo_count} SLOs": from_spec(parse_spec(synthetic_spec(slo_count), "bench")),
    }
    series = derive_series([s for slos in specs.values() for s in slos])
    end = (int(time.time()) // DAY) * DAY  # whole days: both tools on the same grid
    start = end - days * DAY
    out: dict[str, Any] = {"days": days, "anchor_days": anchor_days, "rounds": rounds,
                           "cpus": psutil.cpu_count(), "runs": {}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        work = Path(tmp)
        data = work / "data"
        (work / "om").mkdir()
        began = time.monotonic()
        for f in write_openmetrics(series, start, days, work / "om"):
            subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                            str(f), str(data)], check=True, capture_output=True)  # fmt: skip
            f.unlink()
        out["setup_s"] = round(time.monotonic() - began, 1)
        _log(f"{days} days of raw series in {out['setup_s']} s")
        prom = Prom(data, work / "prometheus.yml")
        prom.set_rules([])
        prom.start()
        source = prom.proc.pid if prom.proc is not None else None
        try:
            for r in range(rounds):
                for name, slos in specs.items():
                    runs = out["runs"].setdefault(name, {"backtest": [], "importer": []})
                    windows = [days] if anchor_days == days else [days, anchor_days]
                    for n in windows:
                        got = _backtest(prom.url, slos, end - n * DAY, end,
                                        work / f"bt-{r}-{n}", source)  # fmt: skip
                        runs["backtest"].append(got)
                        _log(f"round {r + 1}: {name} backtest {n}d: {runs['backtest'][-1]}")
                    load_before = _load()
                    _, secs, rss, _ = _peak_rss(lambda slos=slos, r=r: _importer(
                        prom.url, slos, end - anchor_days * DAY, end,
                        work / f"imp-{r}-{len(slos)}"), source)  # fmt: skip
                    runs["importer"].append({"days": anchor_days, "seconds": round(secs, 1),
                                             "peak_rss_mib": round(rss / 2**20),
                                             "load": [load_before, _load()]})  # fmt: skip
                    _log(f"round {r + 1}: {name} importer {anchor_days}d {secs:.0f} s, "
                         f"load {_load()}")  # fmt: skip
        finally:
            prom.stop()
    return out


def render(res: dict[str, Any]) -> str:
    days, anchor = res["days"], res.get("anchor_days", res["days"])
    scaled = anchor != days
    lines = [
        f"{days} day{'s' if days != 1 else ''} at a 15 s scrape, {res['cpus']} CPUs, "
        f"{res['rounds']} round(s), the two alternating on one Prometheus; medians; load "
        "average (1 min) before and after each run of the backtest.",
    ]
    if scaled:
        lines[0] += (f" The importer ran over the last {anchor} days (and the backtest again "
                     f"over them, for a ratio on one window); its {days}-day time is that "
                     f"scaled by {days / anchor:g}.")  # fmt: skip
    lines += [
        "",
        f"| spec | backtest {days}d (s) | load | peak memory (MiB) | episodes "
        + (
            f"| backtest {anchor}d (s) | importer {anchor}d (s) | backtest / importer, {anchor}d "
            f"| importer {days}d, scaled (s) "
            if scaled
            else "| promtool importer alone (s) "
        )
        + "| backtest / importer |",
        "|---|---|---|---|---|" + ("---|---|---|---|" if scaled else "---|") + "---|",
    ]
    for name, runs in res["runs"].items():
        full = [x for x in runs["backtest"] if x.get("days", days) == days]
        bt = statistics.median(x["seconds"] for x in full)
        imp = statistics.median(x["seconds"] for x in runs["importer"])
        rss = max(x["peak_rss_mib"] for x in full)
        eps = full[-1]["episodes"]
        load = " to ".join(f"{v:g}" for v in full[-1].get("load", []))
        row = f"| {name} | {bt:.0f} | {load} | {rss} | {eps} "
        if scaled:
            short = statistics.median(x["seconds"] for x in runs["backtest"] if x["days"] == anchor)
            imp_full = imp * days / anchor
            row += f"| {short:.0f} | {imp:.0f} | {short / imp:.2f} | {imp_full:.0f} "
            row += f"| {bt / imp_full:.2f} |"
        else:
            row += f"| {imp:.0f} | {bt / imp:.2f} |"
        lines.append(row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.backtest", description=__doc__)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--slos", type=int, default=50)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument(
        "--anchor-days",
        type=int,
        default=None,
        help="run the importer (the anchor) over the last N days only, and scale",
    )
    p.add_argument("--no-write", action="store_true", help="print; leave docs and results alone")
    args = p.parse_args(argv)
    res = run(args.days, args.slos, args.rounds, args.anchor_days)
    text = render(res)
    print(text)
    if not args.no_write:
        RESULTS.write_text(json.dumps(res, indent=2) + "\n")
        write_block(DOC, BEGIN, END, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
