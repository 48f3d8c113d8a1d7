"""How long `slolab slo backtest` takes, against promtool's rule importer alone.

    .venv/bin/python -m bench.backtest                       # 30 days, shipped + 50 SLOs
    .venv/bin/python -m bench.backtest --days 2 --slos 10 --no-write   # a quick look

Backfills ``--days`` of synthetic traffic at a 15 s scrape (bench.rulecost's
generator: the shipped SLOs and a generated ``--slos`` spec) into a TSDB that
one Prometheus serves. Then, alternating, ``--rounds`` times per spec:

- ``backtest``: :func:`slolab.slo.backtest.run` over the whole window (wall
  time; peak memory of the process tree: this Python and the scratch
  Prometheus, sampled every 0.2 s);
- ``importer`` (the anchor): ``promtool tsdb create-blocks-from rules`` for the
  recording rules the same alerts read, at their groups' intervals, against
  the same Prometheus. It records no alerts at all: what the backtest adds on
  top of the importer's work is the alerts, ``for:`` and the budget figures.

Results go between the backtest markers of docs/benchmarks.md (``--no-write``:
printed only) and into bench/results/backtest.json.
"""

from __future__ import annotations

import argparse
import json
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


def _peak_rss(run: Callable[[], Any]) -> tuple[Any, float, int]:
    """Run ``run``; its result, wall seconds and the peak RSS of this process tree."""
    me = psutil.Process()
    peak, done = 0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                procs = [me, *me.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs))
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
    return result, time.monotonic() - began, peak


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


def run(days: int, slo_count: int, rounds: int) -> dict[str, Any]:
    specs = {
        "shipped": load(REPO / "slos.yaml"),
        f"{slo_count} SLOs": from_spec(parse_spec(synthetic_spec(slo_count), "bench")),
    }
    series = derive_series([s for slos in specs.values() for s in slos])
    end = (int(time.time()) // DAY) * DAY  # whole days: both tools on the same grid
    start = end - days * DAY
    out: dict[str, Any] = {"days": days, "rounds": rounds, "cpus": psutil.cpu_count(),
                           "runs": {}}  # fmt: skip
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
        try:
            for r in range(rounds):
                for name, slos in specs.items():
                    runs = out["runs"].setdefault(name, {"backtest": [], "importer": []})
                    res, secs, rss = _peak_rss(lambda slos=slos, r=r: backtest.run(
                        prom.url, slos, start, end, work / f"bt-{r}"))  # fmt: skip
                    episodes = sum(len(x.episodes) for x in res.slos)
                    runs["backtest"].append({"seconds": round(secs, 1), "peak_rss_mib":
                                             round(rss / 2**20), "episodes": episodes})  # fmt: skip
                    _log(f"round {r + 1}: {name} backtest {secs:.0f} s, {rss / 2**20:.0f} MiB")
                    _, secs, rss = _peak_rss(lambda slos=slos, r=r: _importer(
                        prom.url, slos, start, end, work / f"imp-{r}-{len(slos)}"))  # fmt: skip
                    runs["importer"].append({"seconds": round(secs, 1),
                                             "peak_rss_mib": round(rss / 2**20)})  # fmt: skip
                    _log(f"round {r + 1}: {name} importer {secs:.0f} s")
        finally:
            prom.stop()
    return out


def render(res: dict[str, Any]) -> str:
    lines = [
        f"{res['days']} day{'s' if res['days'] != 1 else ''} at a 15 s scrape, "
        f"{res['cpus']} CPUs, {res['rounds']} round(s), "
        "the two alternating on one Prometheus; medians.",
        "",
        "| spec | backtest (s) | peak memory (MiB) | episodes | promtool importer alone (s) "
        "| backtest / importer |",
        "|---|---|---|---|---|---|",
    ]
    for name, runs in res["runs"].items():
        bt = statistics.median(x["seconds"] for x in runs["backtest"])
        imp = statistics.median(x["seconds"] for x in runs["importer"])
        rss = max(x["peak_rss_mib"] for x in runs["backtest"])
        eps = runs["backtest"][-1]["episodes"]
        lines.append(f"| {name} | {bt:.0f} | {rss} | {eps} | {imp:.0f} | {bt / imp:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.backtest", description=__doc__)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--slos", type=int, default=50)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--no-write", action="store_true", help="print; leave docs and results alone")
    args = p.parse_args(argv)
    res = run(args.days, args.slos, args.rounds)
    text = render(res)
    print(text)
    if not args.no_write:
        RESULTS.write_text(json.dumps(res, indent=2) + "\n")
        doc = DOC.read_text()
        head, _, rest = doc.partition(BEGIN)
        _, _, tail = rest.partition(END)
        DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
