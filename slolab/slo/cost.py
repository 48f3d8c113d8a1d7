"""What the generated rules cost a Prometheus, beside the same SLOs in two other styles.

Every rule of each group is run as an instant query with the query API's
statistics (``stats=all``), ``rounds`` times: the samples it reads
(``totalQueryableSamples``), the most it holds at once (``peakSamples``) and
its evaluation time (``execTotalTime``, median of the rounds). A group's cost
per evaluation is the sum over its rules; at its real interval that projects
to cores (evaluation time ÷ interval) and query memory (peak samples x
SAMPLE_BYTES). The series it touches are those its selectors match now.

The two other styles of the period rules, as anchors (bench.rulecost runs them
in a Prometheus for the docs' table):

- ``raw``: the period's error ratio from ``increase(...[period])`` of the raw
  counters (Pyrra's style, and slolab's before the aggregates);
- ``sloth``: the mean of 5-minute ratios recorded every minute, over the
  period (Sloth's style). Those ratios exist only where Sloth's rules run:
  elsewhere its reads cost nothing here, so its samples are also projected
  (one per minute of the period per SLO).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from slolab.slo import conventions as c
from slolab.slo import promql
from slolab.slo.durations import parse_duration
from slolab.slo.model import SLO
from slolab.slo.query import Prometheus
from slolab.slo.views import duration, percent

__all__ = [
    "RAW_PERIOD",
    "SAMPLE_BYTES",
    "SLOTH_PERIOD",
    "SLOTH_RATIO",
    "SLOTH_STEP",
    "WARN_SHARE",
    "GroupCost",
    "measure",
    "ours",
    "raw_style",
    "sloth_style",
    "styles",
    "to_markdown",
]

RAW_PERIOD = "bench:raw:ratio_period"
SLOTH_RATIO = "bench:sloth:ratio_rate5m"
SLOTH_PERIOD = "bench:sloth:ratio_period"
SLOTH_STEP = "1m"  # Sloth records its SLIs at the global evaluation interval
SAMPLE_BYTES = 16  # a float sample in the query engine: timestamp and value
WARN_SHARE = 0.5  # a group taking more than this share of its interval is flagged
_SELECTOR = re.compile(r"(?<![\w:\"])([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^{}]*)\}")


def ours(slos: Sequence[SLO]) -> list[dict[str, Any]]:
    """The groups ``slolab slo generate`` writes, per service."""
    from slolab.slo.generate.rules import rule_groups

    services = sorted({s.service for s in slos})
    return [g for svc in services for g in rule_groups(svc, [s for s in slos if s.service == svc])]


def _per_service(slos: Sequence[SLO], suffix: str, rule: Any) -> list[dict[str, Any]]:
    services = sorted({s.service for s in slos})
    return [
        {"name": f"{svc}-{suffix}", "interval": c.SLOW_INTERVAL,
         "rules": [rule(s) for s in slos if s.service == svc]}
        for svc in services
    ]  # fmt: skip


def raw_style(slos: Sequence[SLO]) -> list[dict[str, Any]]:
    """Pyrra's period rules: summed increases of the raw counters over the period."""
    return _per_service(slos, "period-raw", lambda s: {
        "record": RAW_PERIOD, "labels": s.rule_labels,
        "expr": promql.error_ratio(s, s.period, func="increase")})  # fmt: skip


def sloth_style(slos: Sequence[SLO]) -> list[dict[str, Any]]:
    """Sloth's period rules: the mean of the recorded 5m ratios over the period."""

    def rule(s: SLO) -> dict[str, Any]:
        return {"record": SLOTH_PERIOD, "labels": s.rule_labels,
                "expr": promql.mean_over_period(s, SLOTH_RATIO)}  # fmt: skip

    return _per_service(slos, "period-sloth", rule)


def styles(slos: Sequence[SLO]) -> dict[str, list[dict[str, Any]]]:
    return {"ours": ours(slos), "raw": raw_style(slos), "sloth": sloth_style(slos)}


@dataclass
class GroupCost:
    style: str
    group: str
    interval_s: float
    rules: int
    series: int = 0
    samples: int = 0
    peak_samples: int = 0
    eval_ms: list[float] = field(default_factory=list)
    projected_samples: int | None = None  # sloth: what its recorded ratios would add

    @property
    def median_ms(self) -> float:
        return statistics.median(self.eval_ms) if self.eval_ms else 0.0

    @property
    def cores(self) -> float:
        return self.median_ms / 1000 / self.interval_s

    @property
    def memory_bytes(self) -> int:
        return self.peak_samples * SAMPLE_BYTES

    def over(self, share: float) -> bool:
        return self.median_ms / 1000 > share * self.interval_s


def _series(prom: Prometheus, expr: str, at: float, seen: dict[str, int]) -> int:
    total = 0
    for name, matchers in _SELECTOR.findall(expr):
        selector = f"{name}{{{matchers}}}"
        if selector not in seen:
            seen[selector] = int(prom.value(f"count({selector})", at) or 0)
        total += seen[selector]
    return total


def measure(prom: Prometheus, slos: Sequence[SLO], at: float, rounds: int = 3) -> list[GroupCost]:
    """Every group of every style, measured on ``prom`` at ``at``."""
    out = []
    seen: dict[str, int] = {}
    for style, groups in styles(slos).items():
        for g in groups:
            cost = GroupCost(style, g["name"], parse_duration(str(g["interval"])).total_seconds(),
                             len(g["rules"]))  # fmt: skip
            per_round = [0.0] * rounds
            for rule in g["rules"]:
                expr = str(rule["expr"])
                cost.series += _series(prom, expr, at, seen)
                for n in range(rounds):
                    stats = prom.query_stats(expr, at)
                    samples = stats.get("samples") or {}
                    timings = stats.get("timings") or {}
                    per_round[n] += float(timings.get("execTotalTime", 0.0)) * 1000
                    if n == 0:
                        cost.samples += int(samples.get("totalQueryableSamples", 0))
                        cost.peak_samples = max(cost.peak_samples,
                                                int(samples.get("peakSamples", 0)))  # fmt: skip
            cost.eval_ms = per_round
            if style == "sloth":
                minutes = parse_duration(SLOTH_STEP).total_seconds()
                cost.projected_samples = sum(
                    2 * int(s.period.total_seconds() // minutes)  # sum and count read the range
                    for s in slos if s.service == g["name"].removesuffix("-period-sloth")
                )  # fmt: skip
            out.append(cost)
    return out


def to_markdown(costs: Sequence[GroupCost], slos: int, scale: int | None, share: float) -> str:
    """The table, totals per style (scaled to ``scale`` SLOs if given) and warnings."""
    lines = [
        "| style | group | interval | rules | series | samples/eval | peak samples | "
        "eval (ms) | cores | largest query's memory |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g in costs:
        samples = f"{g.samples:,}"
        if g.projected_samples is not None and g.projected_samples > g.samples:
            samples += f" ({g.projected_samples:,} where its ratios are recorded)"
        lines.append(
            f"| {g.style} | {g.group} | {duration(g.interval_s)} | {g.rules} | {g.series:,} "
            f"| {samples} | {g.peak_samples:,} | {g.median_ms:.1f} | {g.cores:.5f} "
            f"| {g.memory_bytes / 2**20:.2f} MiB |"
        )
    factor = (scale / slos) if scale else 1.0
    lines += ["", f"Totals per style{f' projected to {scale} SLOs' if scale else ''} "
              f"(from {slos} SLOs, linearly); the period rules are what the three styles "
              "share, slolab's other groups (burn-rate windows, alerts, aggregates) are "
              "listed apart:", "",
              "| style | groups | samples/eval | cores | largest query's memory |",
              "|---|---|---|---|---|"]  # fmt: skip
    rows: dict[tuple[str, str], list[GroupCost]] = {}
    for g in costs:
        period = g.style != "ours" or g.group.endswith("-period")
        rows.setdefault((g.style, "period" if period else "the others"), []).append(g)
    for (style, which), mine in sorted(rows.items(), key=lambda kv: kv[0][1] != "period"):
        samples = sum(max(g.samples, g.projected_samples or 0) for g in mine) * factor
        cores = sum(g.cores for g in mine) * factor
        memory = max(g.memory_bytes for g in mine)  # one query's: it does not grow with SLOs
        lines.append(f"| {style} | {which} | {samples:,.0f} | {cores:.4f} "
                     f"| {memory / 2**20:.2f} MiB |")  # fmt: skip
    warnings = [g for g in costs if g.over(share)]
    if warnings:
        lines.append("")
    for g in warnings:
        lines.append(f"**warning**: {g.style} group {g.group} takes {g.median_ms:.0f} ms, "
                     f"more than {percent(share, 0)} of its {duration(g.interval_s)} "
                     "interval")  # fmt: skip
    return "\n".join(lines) + "\n"
