"""Rule cost on a month of data: our SLO rules beside the two anchor period styles.

    .venv/bin/python -m bench.rulecost                      # 30 days, shipped + 50 SLOs
    .venv/bin/python -m bench.rulecost --days 2 --slos 10 --rounds 1 --no-write   # a quick look

Backfills a TSDB with ``--days`` of synthetic traffic at a 15 s scrape for the
shipped SLOs (slos.yaml) and a generated ``--slos`` spec (``promtool tsdb
create-blocks-from openmetrics``, one file per day), then the recorded history
our rules and the Sloth anchor read (``create-blocks-from rules``). One real
Prometheus then evaluates, in turn and ``--rounds`` times, for each spec:

- ``ours``: the generated rules (every group, as shipped);
- ``before``: ours with the period figures of before issue 19 (the finished
  aggregates only, without the raw stretch since the last one);
- ``raw``: period rules over raw samples, ``increase(...[30d])`` (Pyrra's style,
  and ours before);
- ``sloth``: period rules as an average of recorded 5m ratios (Sloth's style).

Groups run at ``--interval`` (15 s) so that a few evaluations take seconds; a
group's cost per evaluation does not depend on its interval, and cores are
computed at the real intervals. Reported per group: median evaluation time
(``prometheus_rule_group_last_duration_seconds``), samples the group's queries
read (the query API's ``stats``), Prometheus CPU per evaluation round, and each
style's period SLI against the raw one.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import yaml

from slolab.lab.prometheus import PrometheusServer
from slolab.slo import conventions as c
from slolab.slo import promql, synthetic
from slolab.slo.cost import (  # the styles `slolab slo cost` prices, in one place
    SLOTH_RATIO,
    ours,
    raw_style,
    sloth_style,
)
from slolab.slo.durations import parse_duration
from slolab.slo.model import SLO, LatencySLI, RatioSLI, from_spec, load
from slolab.slo.spec import parse_spec
from slolab.slo.synthetic import SimulationError, selects, sli_series
from slolab.slo.views import NO_VALUE, percent

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
RESULTS = REPO / "bench" / "results" / "rulecost.json"
BEGIN, END = "<!-- rulecost:begin -->", "<!-- rulecost:end -->"
SCRAPE = 15  # seconds between samples of the synthetic raw series
DAY = 86400
STYLES = ("ours", "before", "raw", "sloth")


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- the SLOs and their raw series ------------------------------------------------


def synthetic_spec(count: int, per_service: int = 10) -> str:
    """``count`` SLOs, half availability (counters), half latency (histograms)."""
    slos = []
    for i in range(count):
        svc, route = f"svc{i // per_service}", f"r{i}"
        sel = f'job="{svc}", route="{route}"'
        if i % 2 == 0:
            sli: dict[str, Any] = {"ratio": {
                "errors": f'bench_requests_total{{{sel}, code="500"}}',
                "total": f"bench_requests_total{{{sel}}}",
            }}  # fmt: skip
        else:
            sli = {"latency": {"histogram": "bench_request_duration_seconds", "selector": sel,
                               "buckets": [0.1, 0.5, 1.0], "threshold_seconds": 0.5}}  # fmt: skip
        slos.append({
            "name": f"bench-{i}", "service": svc, "description": "synthetic", "owner": "bench",
            "sli": sli, "objective": 99.9 if i % 2 == 0 else 99, "period": "30d",
            "review": {"cadence": "90d", "last_review": "2026-11-01"},
        })  # fmt: skip
    return yaml.safe_dump({"version": 1, "slos": slos}, sort_keys=False)


@dataclass(frozen=True)
class Series:
    """One raw series: ``kind`` says how its value follows the traffic."""

    name: str
    labels: tuple[tuple[str, str], ...]  # sorted
    # good, bad, all, fast (under the latency threshold: as many slow as bad) counters;
    # up (0/1 gauge), trained (timestamp gauge)
    kind: str
    seed: int
    count_kind: str = "all"  # a bucket (fast): which counts its histogram's _count holds


def slo_series(slo: SLO) -> list[Series]:
    """Raw series ``slo``'s selectors read, as an exporter would write them.

    The toolkit's synthetic series (:func:`slolab.slo.synthetic.sli_series`, which
    ``slo simulate`` writes too), so every SLO of a spec has data; traffic is seeded
    by the SLO's name.
    """
    seed = zlib.crc32(slo.name.encode())
    try:
        found = sli_series(slo)
    except SimulationError:
        raise ValueError(
            f"bench.rulecost: slo {slo.name!r}: no synthetic traffic for a {slo.sli.kind} SLI"
        ) from None
    return [Series(s.name, tuple(sorted(s.labels.items())), s.kind, seed) for s in found]


def derive_series(slos: Sequence[SLO]) -> list[Series]:
    """The raw series of all ``slos``; one series two SLOs both derive is written once."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], Series] = {}
    for slo in slos:
        for s in slo_series(slo):
            out.setdefault((s.name, s.labels), s)
    # A bucket follows the traffic of its histogram's _count, which another SLO may have
    # derived first (an availability SLO on the same histogram): never above its count.
    for key, s in out.items():
        if s.kind == "fast":
            count = out[(s.name.removesuffix("_bucket") + "_count",
                         tuple(kv for kv in s.labels if kv[0] != "le"))]  # fmt: skip
            out[key] = replace(s, seed=count.seed, count_kind=count.kind)
    return list(out.values())


def traffic(seed: int, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Requests and bad requests per scrape: a daily cycle, a weekly incident at peak.

    Uneven on purpose: the incident (5% bad for 2 h) lands in the busiest hours,
    where an average of window ratios under-weights it.
    """
    rng = np.random.default_rng(seed)
    day = (times % DAY) / DAY
    rate = 20.0 * (1 + 0.9 * np.sin(2 * math.pi * (day - 0.25)))  # requests/s, 2..38
    ratio = np.full(times.shape, 0.0005)
    week = (times // DAY) % 7
    hour = (times % DAY) / 3600
    ratio[(week == seed % 7) & (hour >= 11) & (hour < 13)] = 0.05
    total = rng.poisson(rate * SCRAPE).astype(float)
    bad = rng.binomial(total.astype(np.int64), ratio).astype(float)
    return total, bad


def values(series: Series, times: np.ndarray) -> np.ndarray:
    total, bad = traffic(series.seed, times)
    counts = {"good": total - bad, "bad": bad, "all": total}
    if series.kind in counts:
        return np.cumsum(counts[series.kind])
    if series.kind == "fast":  # a bucket: its count's requests but 2 x bad of them
        return np.cumsum(np.maximum(counts[series.count_kind] - 2 * bad, 0))
    if series.kind == "up":  # the probe fails while over 1% of requests fail
        return (bad <= 0.01 * total).astype(float)
    if series.kind == "trained":
        return times.copy()  # trained at every scrape: fresh for any maximum age
    raise ValueError(series.kind)


def write_openmetrics(
    series: Sequence[Series], start: int, days: int, out: Path, per_file: int = DAY
) -> list[Path]:
    """``days`` OpenMetrics files of ``per_file`` seconds each (promtool rescans a file
    once per 2h block: a month in one file takes many times longer)."""
    times = np.arange(start, start + days * per_file, SCRAPE, dtype=np.int64)
    full = {s: values(s, times.astype(float)) for s in series}
    per_day = per_file // SCRAPE
    files = []
    for d in range(days):
        lo, hi = d * per_day, (d + 1) * per_day
        ts = times[lo:hi].tolist()
        rows = (
            (s.name, ",".join(f'{k}="{v}"' for k, v in s.labels), ts, full[s][lo:hi].tolist())
            for s in series
        )
        files.append(synthetic.write_openmetrics(out / f"day-{d:02d}.om", rows, ".0f"))
    return files


def sli_events(slo: SLO, series: Sequence[Series], times: np.ndarray,
               ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Events (all, bad) per scrape of ``slo`` over the raw ``series`` its queries select.

    Selected as Prometheus selects them, so a series two SLOs read counts for both
    and the recorded inputs below agree with the raw rules whatever the spec holds.
    """

    def picked(selector: str) -> list[Series]:
        return [s for s in series if selects(selector, s.name, dict(s.labels))]

    def increase(members: Sequence[Series]) -> np.ndarray:
        out = np.zeros(times.shape)
        for s in members:
            out += np.diff(values(s, times), prepend=0.0)
        return out

    sli = slo.sli
    if isinstance(sli, RatioSLI):
        total = increase(picked(sli.total))
        if sli.errors is not None:
            return total, increase(picked(sli.errors))
        return total, total - increase(picked(sli.good or ""))
    if isinstance(sli, LatencySLI):
        buckets = picked(promql.bucket_selector(sli))
        # ``count and ignoring(le) bucket``: only counts with the threshold bucket
        keys = {tuple(kv for kv in s.labels if kv[0] != "le") for s in buckets}
        total = increase([s for s in picked(promql.count_selector(sli)) if s.labels in keys])
        return total, total - increase(buckets)
    members = picked(sli.source)
    if sli.kind == "probe":  # samples: each probe is one event per scrape
        up = sum((values(s, times) for s in members), np.zeros(times.shape))
        return np.full(times.shape, float(len(members))), len(members) - up
    if sli.kind == "freshness":  # every synthetic model is fresh (trained at each scrape)
        return np.full(times.shape, float(len(members))), np.zeros(times.shape)
    raise ValueError(f"bench.rulecost: slo {slo.name!r}: no synthetic traffic for a {sli.kind} SLI")


def recorded_history(slos: Sequence[SLO], series: Sequence[Series], start: int, days: int,
                     out: Path) -> list[Path]:  # fmt: skip
    """The anchors' recorded inputs, from the same traffic, one file per day.

    Sloth's 5m error ratios every minute and the good-sample series of gauge SLIs
    (our aggregates read it). Written directly: backfilling them through
    ``create-blocks-from rules`` at 30 s / 1 m steps took minutes per day of data.
    """
    times = np.arange(start, start + days * DAY, SCRAPE, dtype=np.int64)
    per_min = 60 // SCRAPE
    window = 300 // SCRAPE
    rows: list[tuple[str, str, np.ndarray, np.ndarray]] = []
    for slo in slos:
        labels = ",".join(f'{k}="{v}"' for k, v in slo.rule_labels.items())
        total, bad = sli_events(slo, series, times.astype(float))
        if slo.sli.kind == "freshness":
            good = (bad[::2] == 0).astype(float)
            rows.append((c.RULE_GOOD_SAMPLE, labels, times[::2], good))
        kernel = np.ones(window)
        tot5, bad5 = np.convolve(total, kernel)[: len(total)], np.convolve(bad, kernel)[: len(bad)]
        ratio = np.divide(bad5, tot5, out=np.zeros_like(bad5), where=tot5 > 0)
        rows.append((SLOTH_RATIO, labels, times[window::per_min], ratio[window::per_min]))
    return _write_rows(rows, start, days, out, "rec")


def aggregates_history(slos: Sequence[SLO], series: Sequence[Series], start: int, days: int,
                       out: Path) -> list[Path]:  # fmt: skip
    """Our aggregates as the 5m group records them, from the same traffic, one file a day.

    ``promtool tsdb create-blocks-from rules`` would evaluate the generated rules,
    but (2.42) writes one block per rule per 2 hours: 20,880 blocks for the 58 SLOs
    measured then, over 30 days; it had written 1,808 (562 MB) after 4.5 minutes.
    tests/slo/test_agreement.py backfills six hours through it instead.
    """
    times = np.arange(start, start + days * DAY, SCRAPE, dtype=np.int64)
    window = int(parse_duration(c.AGGREGATE_WINDOW).total_seconds())
    per = window // SCRAPE
    rows: list[tuple[str, str, np.ndarray, np.ndarray]] = []
    for slo in slos:
        total, bad = sli_events(slo, series, times.astype(float))
        n = len(total) // per
        tot5 = total[: n * per].reshape(n, per).sum(axis=1) / window
        bad5 = bad[: n * per].reshape(n, per).sum(axis=1) / window
        ends = times[per - 1 :: per][:n] + SCRAPE  # each covers the window before it
        base = ",".join(f'{k}="{v}"' for k, v in slo.rule_labels.items())
        for kind, vals in ((c.EVENTS_TOTAL, tot5), (c.EVENTS_ERRORS, bad5)):
            rows.append((c.RULE_EVENTS_AGGREGATE, f'{base},{c.LABEL_EVENTS}="{kind}"', ends, vals))
        rows.append((c.RULE_AGGREGATED_AT, base, ends, ends.astype(float)))
    return _write_rows(rows, start, days, out, "agg")


def _write_rows(rows: list[tuple[str, str, np.ndarray, np.ndarray]], start: int, days: int,
                out: Path, prefix: str) -> list[Path]:  # fmt: skip
    files = []
    for d in range(days):
        lo, hi = start + d * DAY, start + (d + 1) * DAY
        day = []
        for name, labels, ts, vals in sorted(rows, key=lambda r: r[0]):  # families by name
            keep = (ts >= lo) & (ts < hi)
            day.append((name, labels, ts[keep].tolist(), vals[keep].tolist()))
        files.append(synthetic.write_openmetrics(out / f"{prefix}-{d:02d}.om", day, ".10g"))
    return files


# --- rule sets ----------------------------------------------------------------------


def before(slos: Sequence[SLO]) -> list[dict[str, Any]]:
    """Ours as they were before issue 19: the period figures from the finished aggregates only."""
    groups = ours(slos)
    by_name = {s.name: s for s in slos}
    for g in groups:
        g["rules"] = [
            {**r, "expr": promql.aggregate_ratio(by_name[r["labels"][c.LABEL_SLO]],
                                                  by_name[r["labels"][c.LABEL_SLO]].period)}
            if r.get("record") == c.RULE_ERROR_RATIO_PERIOD else r
            for r in g["rules"] if r.get("record") != c.RULE_EVENTS_SINCE_AGGREGATE
        ]  # fmt: skip
    return groups


# --- Prometheus ---------------------------------------------------------------------


class Prom(PrometheusServer):
    """The measured Prometheus: rules reloaded in place, big queries allowed."""

    def __init__(self, data: Path, config: Path) -> None:
        super().__init__(
            config, data, data.parent / "prometheus.log", retention="400d",
            flags=("--web.enable-lifecycle", "--query.max-samples=200000000"),
        )  # fmt: skip

    def stop(self, timeout: float = 60.0) -> None:
        super().stop(timeout)

    def set_rules(self, files: Sequence[Path]) -> None:
        cfg = {"global": {"evaluation_interval": "1m"}, "rule_files": [str(f) for f in files]}
        self.config.write_text(yaml.safe_dump(cfg))
        if self.proc is not None:
            httpx.post(f"{self.url}/-/reload", timeout=30).raise_for_status()

    def query(self, expr: str, at: float | None = None, stats: bool = False) -> dict[str, Any]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        if stats:
            params["stats"] = "all"
        resp = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=300)
        body = resp.json()
        if body.get("status") != "success":
            raise RuntimeError(f"query failed: {expr[:120]}: {body.get('error')}")
        return body["data"]

    def metric(self, name: str) -> dict[str, float]:
        """``rule_group`` -> value for one of Prometheus' own metrics."""
        text = httpx.get(f"{self.url}/metrics", timeout=30).text
        out = {}
        for line in text.splitlines():
            if line.startswith(name + "{"):
                labels, value = line.rsplit(" ", 1)
                group = labels.split('rule_group="', 1)[1].split('"', 1)[0]
                out[group.rsplit(";", 1)[-1]] = float(value)
        return out


def _write_rules(path: Path, groups: list[dict[str, Any]], interval: str | None = None) -> Path:
    groups = [dict(g) for g in groups]
    for g in groups:
        g["rules"] = [r for r in g["rules"] if "record" in r or interval is not None]
        if interval is not None:
            g["interval"] = interval
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def _settle(prom: Prom, limit: float = 300) -> float:
    """Wait until Prometheus idles (start-up compaction of the backfill done)."""
    assert prom.proc is not None
    proc = psutil.Process(prom.proc.pid)
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = sum(proc.cpu_times()[:2])
        time.sleep(5)
        if (sum(proc.cpu_times()[:2]) - before) / 5 < 0.05:
            break
    return round(time.monotonic() - started, 1)


# --- measuring ----------------------------------------------------------------------


@dataclass
class Measure:
    spec: str
    style: str
    group: str
    real_interval_s: float
    eval_ms: list[float] = field(default_factory=list)
    samples: int | None = None

    @property
    def median_ms(self) -> float:
        return statistics.median(self.eval_ms) if self.eval_ms else float("nan")

    @property
    def cores(self) -> float:
        return self.median_ms / 1000 / self.real_interval_s


def _phase(prom: Prom, path: Path, groups: list[dict[str, Any]], evals: int, interval: float,
           ) -> tuple[dict[str, list[float]], float]:  # fmt: skip
    """Evaluate ``path`` alone for ``evals`` intervals: durations per group, CPU per round."""
    assert prom.proc is not None
    prom.set_rules([path])
    proc = psutil.Process(prom.proc.pid)
    time.sleep(interval * 1.5)  # first (cold) evaluation after the reload: not counted
    names = [g["name"] for g in groups]
    seen: dict[str, list[float]] = {n: [] for n in names}
    iters = prom.metric("prometheus_rule_group_iterations_total")
    cpu0 = sum(proc.cpu_times()[:2])
    for _ in range(evals):
        time.sleep(interval)
        for n, v in prom.metric("prometheus_rule_group_last_duration_seconds").items():
            if n in seen:
                seen[n].append(v * 1000)
    cpu = sum(proc.cpu_times()[:2]) - cpu0
    after = prom.metric("prometheus_rule_group_iterations_total")
    rounds = statistics.median([after.get(n, 0) - iters.get(n, 0) for n in names]) or 1
    return seen, cpu / rounds


def _samples(prom: Prom, groups: list[dict[str, Any]], at: float) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for g in groups:
        total = 0
        for r in g["rules"]:
            stats = prom.query(r["expr"], at, stats=True).get("stats", {})
            n = stats.get("samples", {}).get("totalQueryableSamples")
            if n is None:
                total = None
                break
            total += int(n)
        out[g["name"]] = total
    return out


def _slis(prom: Prom, slos: Sequence[SLO], at: float) -> dict[str, dict[str, float | None]]:
    """Each SLO's period error ratio by style, at ``at``."""
    exprs = {
        "ours": promql.period_ratio,
        "before": lambda s: promql.aggregate_ratio(s, s.period),
        "raw": lambda s: promql.error_ratio(s, s.period, func="increase"),
        "sloth": lambda s: promql.mean_over_period(s, SLOTH_RATIO),
    }
    out: dict[str, dict[str, float | None]] = {}
    for s in slos:
        row = {}
        for style, expr in exprs.items():
            result = prom.query(expr(s), at)["result"]
            row[style] = float(result[0]["value"][1]) if result else None
        out[s.name] = row
    return out


@dataclass
class Options:
    days: int = 30
    slos: int = 50
    rounds: int = 2
    evals: int = 3
    interval: float = 10.0


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="rulecost-") as tmp:
        yield Path(tmp)


def run(opts: Options, keep: Path | None = None) -> dict[str, Any]:
    specs = {
        "shipped": load(REPO / "slos.yaml"),
        f"{opts.slos} SLOs": from_spec(parse_spec(synthetic_spec(opts.slos), "bench")),
    }
    all_slos = [s for slos in specs.values() for s in slos]
    series = derive_series(all_slos)
    # Data until shortly after the run, so the short windows stay full while measuring.
    end = (int(time.time()) // 300) * 300 + 3600
    start = end - opts.days * DAY - 3600
    timings: dict[str, float] = {}
    with _workdir(keep) as work:
        data, om = work / "data", work / "om"
        data.mkdir(exist_ok=True)
        om.mkdir(exist_ok=True)
        t0 = time.monotonic()
        if not (work / "written").exists():  # --keep DIR again resumes a run
            files = write_openmetrics(series, start, opts.days + 1, om)
            files += recorded_history(all_slos, series, start, opts.days + 1, om)
            (work / "written").write_text(f"{start} {end}\n")
            _log(f"wrote {len(files)} OpenMetrics files ({len(series)} series)")
        start, end = (int(x) for x in (work / "written").read_text().split())
        if not (work / "aggregates-written").exists():
            aggregates_history(all_slos, series, start, opts.days + 1, om)
            (work / "aggregates-written").touch()
        timings["write_openmetrics_s"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        for f in sorted(om.glob("*.om")):
            subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                            str(f), str(data)], check=True, capture_output=True)  # fmt: skip
            f.unlink()
        timings["create_blocks_s"] = round(time.monotonic() - t0, 1)
        _log("raw blocks created")
        prom = Prom(data, work / "prometheus.yml")
        prom.set_rules([])
        prom.start()
        try:
            _log("Prometheus started on the backfilled TSDB")
            timings["settle_s"] = _settle(prom)
            return _measure(prom, specs, opts, work, timings)
        finally:
            prom.stop()


def _measure(prom: Prom, specs: dict[str, list[SLO]], opts: Options, work: Path,
             timings: dict[str, float]) -> dict[str, Any]:  # fmt: skip
    builders = {"ours": ours, "before": before, "raw": raw_style, "sloth": sloth_style}
    accel = f"{opts.interval:g}s"
    phases = []
    for spec, slos in specs.items():
        for style in STYLES:
            groups = builders[style](slos)
            tag = f"{spec.split()[0]}-{style}"
            path = _write_rules(work / f"phase-{tag}.yml", groups, interval=accel)
            phases.append((spec, style, groups, path))
    # Before any rule runs: at 10 s the aggregates group would re-count recent minutes.
    at = time.time()
    slis = {spec: _slis(prom, slos, at) for spec, slos in specs.items()}
    measures: dict[tuple[str, str, str], Measure] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    for r in range(opts.rounds):
        for spec, style, groups, path in phases:
            seen, per_round = _phase(prom, path, groups, opts.evals, opts.interval)
            cpu.setdefault((spec, style), []).append(per_round)
            for g in groups:
                key = (spec, style, g["name"])
                m = measures.setdefault(
                    key,
                    Measure(spec, style, g["name"], parse_duration(g["interval"]).total_seconds()),
                )
                m.eval_ms += seen.get(g["name"], [])
            _log(f"round {r + 1}: {spec} {style} done")
    prom.set_rules([])
    for spec, style, groups, _ in phases:
        for name, n in _samples(prom, groups, at).items():
            measures[(spec, style, name)].samples = n
    return {
        "options": asdict(opts),
        "machine": {"cpus": psutil.cpu_count(), "prometheus": _version()},
        "timings": timings,
        "groups": [dict(asdict(m), median_ms=m.median_ms, cores=m.cores)
                   for m in measures.values()],
        "cpu_per_round_s": {f"{k[0]}|{k[1]}": statistics.median(v) for k, v in cpu.items()},
        "slis": slis,
    }  # fmt: skip


def _version() -> str:
    out = subprocess.run(["prometheus", "--version"], capture_output=True, text=True)
    return (out.stdout or out.stderr).splitlines()[0]


# --- report -------------------------------------------------------------------------


def render(res: dict[str, Any]) -> str:
    """The markdown between the rulecost markers of docs/benchmarks.md."""
    o = res["options"]
    lines = [
        f"Measured on {res['machine']['cpus']} CPUs, {res['machine']['prometheus']}; "
        f"{o['days']} days at a {SCRAPE} s scrape; groups evaluated every {o['interval']:g} s, "
        f"{o['evals']} evaluations x {o['rounds']} rounds per style, styles alternating in one "
        "Prometheus. Cores: median evaluation time / the group's real interval.",
        "",
        "| spec | style | group | real interval | eval p50 (ms) | max (ms) | samples read "
        "| cores |",
        "|---|---|---|---|---|---|---|---|",
    ]
    totals: dict[tuple[str, str], float] = {}
    worst: dict[tuple[str, str], float] = {}
    for g in res["groups"]:
        key = (g["spec"], g["style"])
        totals[key] = totals.get(key, 0.0) + g["cores"]
        worst[key] = max(worst.get(key, 0.0), g["median_ms"])
        samples = NO_VALUE if g["samples"] is None else f"{g['samples']:,}"
        lines.append(
            f"| {g['spec']} | {g['style']} | {g['group']} | {g['real_interval_s']:g} s "
            f"| {g['median_ms']:.1f} | {max(g['eval_ms'], default=float('nan')):.1f} "
            f"| {samples} | {g['cores']:.4f} |"
        )
    lines += ["", "| spec | style | slowest group p50 (ms) | cores in total (eval time) | "
              "CPU per evaluation round (s) | cores in total (CPU) | "
              "period error ratio vs raw (max rel. diff) |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for (spec, style), cores in totals.items():
        cpu_cores = _cpu_cores(res, spec, style)
        diffs = []
        for row in res["slis"][spec].values():
            raw, mine = row.get("raw"), row.get(style)
            if raw and mine is not None:
                diffs.append(abs(mine / raw - 1))
        diff = percent(max(diffs), 2) if diffs else NO_VALUE
        cpu = res["cpu_per_round_s"][f"{spec}|{style}"]
        lines.append(f"| {spec} | {style} | {worst[(spec, style)]:.1f} | {cores:.4f} "
                     f"| {cpu:.3f} | {cpu_cores:.4f} | {diff} |")  # fmt: skip
    t = res["timings"]
    lines += [
        "",
        f"Set-up: OpenMetrics written in {t.get('write_openmetrics_s')} s, blocks created "
        f"in {t.get('create_blocks_s')} s (raw series, our aggregates, the anchors' inputs), "
        f"start-up settled in {t.get('settle_s')} s.",
    ]
    return "\n".join(lines)


def _cpu_cores(res: dict[str, Any], spec: str, style: str) -> float:
    """Prometheus CPU at the real intervals: each round's CPU split by evaluation time.

    Evaluation times are wall clock, inflated when groups overlap on a busy
    machine; the process CPU per round is not, and this spreads it over the
    groups in proportion to their times before dividing by their intervals.
    """
    groups = [g for g in res["groups"] if g["spec"] == spec and g["style"] == style]
    total_ms = sum(g["median_ms"] for g in groups) or 1.0
    per_round = res["cpu_per_round_s"][f"{spec}|{style}"]
    return sum(per_round * g["median_ms"] / total_ms / g["real_interval_s"] for g in groups)


def write_doc(text: str) -> None:
    doc = DOC.read_text()
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    d = Options()
    p = argparse.ArgumentParser(prog="python -m bench.rulecost", description=__doc__.split("\n")[0])
    p.add_argument("--days", type=int, default=d.days)
    p.add_argument("--slos", type=int, default=d.slos, help="SLOs in the generated spec")
    p.add_argument("--rounds", type=int, default=d.rounds)
    p.add_argument("--evals", type=int, default=d.evals, help="evaluations per style and round")
    p.add_argument("--interval", type=float, default=d.interval, help="seconds between evaluations")
    p.add_argument("--keep", type=Path,
                   help="work here and keep the TSDB (default: a temp dir); "
                   "the same DIR again resumes an interrupted run")  # fmt: skip
    p.add_argument("--no-write", action="store_true", help="print only; leave the doc alone")
    p.add_argument("--render", type=Path, metavar="JSON", help="render saved results only")
    args = p.parse_args(argv)
    if args.render:
        res = json.loads(args.render.read_text())
    else:
        opts = Options(args.days, args.slos, args.rounds, args.evals, args.interval)
        res = run(opts, args.keep)
        if not args.no_write:
            RESULTS.write_text(json.dumps(res, indent=1))
    text = render(res)
    print(text)
    if not args.no_write:
        write_doc(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
