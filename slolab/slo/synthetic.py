"""Synthetic series for a simulation or a benchmark: names and labels that an SLO's
selectors select (and its error selector does not), from the selectors alone; which
series an SLO reads and how each follows its traffic; promtool input series of an
outage at a given error ratio and traffic rate.

Used by :mod:`slolab.slo.simulate` and :mod:`slolab.slo.timeline` (promtool input
series) and ``bench/rulecost`` (a month of backfilled history).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import islice
from pathlib import Path

import exrex
import promql_parser

from slolab.slo.model import SLO, LatencySLI, RatioSLI, SampleSLI, number

__all__ = [
    "EVENTS_PER_SCRAPE",
    "HISTORY_STEP",
    "SLISeries",
    "SimulationError",
    "Timeline",
    "input_series",
    "label_holds",
    "matchers_of",
    "notation",
    "selects",
    "series_labels",
    "series_name",
    "sli_series",
    "write_openmetrics",
]


class SimulationError(ValueError):
    """The simulation cannot run (unsupported SLI, promtool missing or failing)."""


_FALLBACK_VALUES = ("synthetic", "200", "500", "ok", "1", "x")


def matchers_of(selector: str) -> tuple[str, list[tuple[str, str, str]]]:
    node = promql_parser.parse(selector)
    if not isinstance(node, promql_parser.VectorSelector):
        raise SimulationError(f"cannot simulate {selector!r}: not a plain series selector")
    out = []
    for m in node.matchers.matchers:
        if m.name == "__name__":
            continue
        op = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~",
              "MatchOp.NotRe": "!~"}[str(m.op)]  # fmt: skip
        out.append((m.name, op, m.value))
    return node.name, out


def label_holds(op: str, want: str, value: str) -> bool:
    if op == "=":
        return value == want
    if op == "!=":
        return value != want
    matched = re.fullmatch(want, value) is not None  # Prometheus anchors regexes
    return matched if op == "=~" else not matched


def selects(selector: str, name: str, labels: Mapping[str, str]) -> bool:
    """Whether the plain series selector ``selector`` selects the series ``name{labels}``."""
    want, matchers = matchers_of(selector)
    return (not want or want == name) and all(
        label_holds(op, value, labels.get(label, "")) for label, op, value in matchers
    )


def _candidates(matchers: Iterable[tuple[str, str, str]]) -> list[str]:
    found: list[str] = []
    for _, op, want in matchers:
        if op == "=":
            found.append(want)
        elif op == "=~":
            # lazily: `.*` alone would expand to thousands of strings
            found += islice(exrex.generate(want, limit=2), 20)
    found += list(_FALLBACK_VALUES)
    # Plain values first: a generated "5  " is legal but unreadable.
    return sorted(dict.fromkeys(found), key=lambda v: not re.fullmatch(r"[\w/.\-:]*", v))


def series_labels(
    positive: Sequence[str], negative: str | None = None
) -> tuple[str, dict[str, str]]:
    """Metric name and labels matching every ``positive`` selector and not ``negative``."""
    names, constraints = set(), {}
    for sel in positive:
        name, ms = matchers_of(sel)
        names.add(name)
        for m in ms:
            constraints.setdefault(m[0], []).append(m)
    if len(names) != 1:
        raise SimulationError(f"selectors name different metrics: {', '.join(sorted(names))}")
    name = names.pop()

    def pick(label: str, extra: Callable[[str], bool] = lambda v: True) -> str | None:
        ms = constraints.get(label, [])
        for value in _candidates(ms):
            if all(label_holds(op, want, value) for _, op, want in ms) and extra(value):
                return value
        return None

    labels = {}
    for label in constraints:
        value = pick(label)
        if value is None:
            raise SimulationError(f"no value of label {label!r} satisfies {positive}")
        if value:
            labels[label] = value
    if negative is not None:
        neg_name, neg = matchers_of(negative)
        if neg_name == name and all(label_holds(op, w, labels.get(lb, "")) for lb, op, w in neg):
            for label, op, want in neg:
                constraints.setdefault(label, [])
                value = pick(label, lambda v, op=op, want=want: not label_holds(op, want, v))
                if value is not None:
                    labels[label] = value
                    break
            else:
                raise SimulationError(f"no series matches {positive} without matching {negative}")
    return name, labels


def series_name(name: str, labels: dict[str, str]) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"')

    inner = ",".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


# --- which series an SLO reads, and how each follows its traffic -------------------------


@dataclass(frozen=True)
class SLISeries:
    """One raw series an SLO's selectors read, as an exporter would write it.

    ``kind`` says how its value follows the traffic: ``all``, ``good``, ``bad``
    events (counters), ``fast`` (the latency threshold's bucket: the good ones),
    ``up`` (a probe's 0/1 gauge), ``trained`` (a timestamp gauge).
    """

    name: str
    labels: dict[str, str]
    kind: str


def sli_series(slo: SLO) -> list[SLISeries]:
    """The raw series ``slo`` reads (request SLIs, probes, freshness), built from its
    selectors: labels that satisfy its matchers (and not its error selector's)."""
    sli = slo.sli

    def one(positive: Sequence[str], kind: str, negative: str | None = None) -> SLISeries:
        name, labels = series_labels(positive, negative)
        return SLISeries(name, labels, kind)

    if isinstance(sli, RatioSLI):
        part, kind = (sli.errors, "bad") if sli.errors is not None else (sli.good, "good")
        assert part is not None
        if matchers_of(part)[0] == matchers_of(sli.total)[0]:
            # One metric split in two: the part, and the rest of the total.
            rest = "good" if kind == "bad" else "bad"
            return [one([part, sli.total], kind), one([sli.total], rest, negative=part)]
        return [one([part], kind), one([sli.total], "all")]
    if isinstance(sli, LatencySLI):
        fast = one([f"{sli.histogram}_bucket{{{sli.matchers}}}"], "fast")
        fast.labels["le"] = number(sli.threshold_seconds)  # as the Python client writes it
        return [fast, one([f"{sli.histogram}_count{{{sli.matchers}}}"], "all")]
    if sli.kind == "probe":
        return [one([sli.source], "up")]
    if sli.kind == "freshness":
        return [one([sli.source], "trained")]
    raise SimulationError(f"slo {slo.name!r}: cannot simulate a {sli.kind} SLI")


# --- promtool input series for one simulated outage ---------------------------------------

# promtool's engine refuses a query that loads over 10,000 samples (its test limit),
# and a 3-day window of 15 s scrapes holds 17,280 per series. So clean history
# before the outage is thinned to one sample per HISTORY_STEP (exact for counters
# growing linearly).
HISTORY_STEP = 300
# Steady traffic by default: ratios are scale-free, so any rate works (unless the
# SLO's alerting needs a minimum count of events: then the rate is the question).
EVENTS_PER_SCRAPE = Fraction(100)


def notation(values: Sequence[Fraction | None]) -> str:
    """promtool's expanding notation: runs of a constant step become ``a+bxN``, gaps ``_xN``."""
    parts, i = [], 0
    while i < len(values):
        j = i
        if values[i] is None:
            while j + 1 < len(values) and values[j + 1] is None:
                j += 1
            parts.append("_" if j == i else f"_ _x{j - i}")
            i = j + 1
            continue
        nxt = values[i + 1] if i + 1 < len(values) else None
        step = nxt - values[i] if nxt is not None else Fraction(0)
        while j + 1 < len(values) and values[j + 1] is not None:
            if values[j + 1] - values[j] != step:
                break
            j += 1
        start, count = number(float(values[i])), j - i
        if count == 0:
            parts.append(start)
        elif step == 0:
            parts.append(f"{start}x{count}")
        else:
            sign = "+" if step > 0 else "-"
            parts.append(f"{start}{sign}{number(float(abs(step)))}x{count}")
        i = j + 1
    return " ".join(parts)


@dataclass(frozen=True)
class Timeline:
    """When the series of one simulation are sampled and where the bad events fall."""

    scrape: int  # seconds
    evaluation: int
    start: int  # outage start (seconds from 0)
    end: int  # outage end
    stop: int  # last evaluation
    dense_from: int = 0  # before this, one sample every HISTORY_STEP (clean, linear history)
    # (from, to, error ratio) in seconds from 0: a timeline of ratios instead of one
    # outage (slolab.slo.timeline); the series are then built with ratio 1
    segments: tuple[tuple[int, int, Fraction], ...] = ()

    @property
    def scrapes(self) -> int:
        return self.stop // self.scrape + 1

    def present(self, k: int) -> bool:
        t = k * self.scrape
        return t >= self.dense_from or t % HISTORY_STEP == 0

    def thin(self, values: Sequence[Fraction]) -> list[Fraction | None]:
        return [v if self.present(k) else None for k, v in enumerate(values)]

    def bad_share(self, t0: int, t1: int) -> Fraction:
        """Share of (t0, t1] inside the outage (with segments: weighted by their ratios)."""
        if self.segments:
            bad = sum((r * max(min(t1, b) - max(t0, a), 0) for a, b, r in self.segments),
                      Fraction(0))  # fmt: skip
            return bad / (t1 - t0)
        lo, hi = max(t0, self.start), min(t1, self.end)
        return Fraction(max(hi - lo, 0), t1 - t0)

    def ratio_at(self, t: int, ratio: Fraction) -> tuple[Fraction, int] | None:
        """(error ratio, since when) of the sample ending at ``t``; None outside any outage."""
        if not self.segments:
            return (ratio, self.start) if self.start < t <= self.end else None
        for a, b, r in self.segments:
            if a < t <= b:
                return r, a
        return None


def _counter(tl: Timeline, per_scrape: Callable[[Fraction], Fraction]) -> list[Fraction]:
    """Cumulative counts; ``per_scrape(bad share of the interval)`` events per scrape."""
    values, total = [Fraction(0)], Fraction(0)
    for k in range(1, tl.scrapes):
        total += per_scrape(tl.bad_share((k - 1) * tl.scrape, k * tl.scrape))
        values.append(total)
    return values


def _dithered(tl: Timeline, ratio: Fraction, unit: int) -> list[bool]:
    """Per scrape: bad or not, spreading ``ratio`` evenly over the outage in steps of ``unit``.

    ``unit`` is the scrape interval for scraped 0/1 series and the evaluation
    interval for recorded ones (a rule reads one scrape per evaluation).
    """
    out = []
    for k in range(tl.scrapes):
        t = k * tl.scrape
        step = t // unit
        # A sample stands for the interval it ends, as a counter's increase does.
        inside = tl.ratio_at(step * unit, ratio)
        if inside is None:
            out.append(False)
            continue
        r, since = inside
        n = step - since // unit
        out.append(math.floor((n + 1) * r) > math.floor(n * r))
    return out


def _whole_events(
    tl: Timeline, per_scrape: Fraction, ratio: Fraction
) -> tuple[list[Fraction], list[Fraction]]:
    """Cumulative (all, bad) whole events: an event whenever ``per_scrape`` per scrape adds
    up to one more; each new event bad by the ratio of its interval, dithered (at 100%
    every event of the outage is bad, at 50% every other one)."""
    total, bad, mass, owed = 0, 0, Fraction(0), Fraction(0)
    totals, bads = [Fraction(0)], [Fraction(0)]
    for k in range(1, tl.scrapes):
        mass += per_scrape
        new = math.floor(mass) - total
        total += new
        owed += new * ratio * tl.bad_share((k - 1) * tl.scrape, k * tl.scrape)
        bad = math.floor(owed)  # never above total: each event owes one at most
        totals.append(Fraction(total))
        bads.append(Fraction(bad))
    return totals, bads


def input_series(
    slo: SLO,
    ratio: Fraction,
    tl: Timeline,
    per_scrape: Fraction = EVENTS_PER_SCRAPE,
    whole: bool = False,
) -> list[dict[str, str]]:
    """promtool ``input_series`` for ``slo``: ``per_scrape`` events every scrape (requests
    SLIs), ``ratio`` of them bad inside the timeline's outage (or its segments).

    ``whole``: counters count whole events, as real ones do (a low rate is then a
    request now and then, each one good or bad); else they grow by the exact
    shares, which keeps every window's ratio exact at any rate.
    """
    if isinstance(slo.sli, SampleSLI):
        return [_sample_series(slo, slo.sli, ratio, tl)]
    if whole:
        total, bad = _whole_events(tl, per_scrape, ratio)
    else:
        total = _counter(tl, lambda share: per_scrape)
        bad = _counter(tl, lambda share: per_scrape * ratio * share)
    good = [t - b for t, b in zip(total, bad, strict=True)]
    by_kind = {"all": total, "bad": bad, "good": good, "fast": good}
    return [
        {"series": series_name(s.name, s.labels), "values": notation(tl.thin(by_kind[s.kind]))}
        for s in sli_series(slo)
    ]


def _sample_series(slo: SLO, sli: SampleSLI, ratio: Fraction, tl: Timeline) -> dict[str, str]:
    if sli.kind == "probe":
        name, labels = series_labels([sli.source])
        bad = _dithered(tl, ratio, tl.scrape)
        values = [Fraction(0 if b else 1) for b in bad]
        return {"series": series_name(name, labels), "values": notation(values)}
    bad = _dithered(tl, ratio, tl.evaluation)
    if sli.kind == "freshness":
        max_age = _bool_limit(sli)
        name, labels = series_labels([sli.source])
        # Fresh: trained at this very scrape; stale: twice the allowed age ago.
        values = [Fraction(k * tl.scrape) - (2 * max_age if b else 0) for k, b in enumerate(bad)]
        return {"series": series_name(name, labels), "values": notation(values)}
    if sli.kind in ("cpu", "memory"):
        return _resource_series(slo, sli, bad, tl)
    if sli.kind != "threshold":
        raise SimulationError(f"slo {slo.name!r}: cannot simulate a {sli.kind} SLI")
    expr, op, limit = sli.source, sli.op, _bool_limit(sli)
    try:
        name, labels = series_labels([expr])
    except (SimulationError, ValueError):
        raise SimulationError(
            f"slo {slo.name!r}: can simulate a threshold SLI only on a plain series selector, "
            f"not {expr!r}"
        ) from None
    good = {"<": limit - 1, "<=": limit, ">": limit + 1, ">=": limit, "==": limit,
            "!=": limit + 1}[op]  # fmt: skip
    worse = {"<": limit + 1, "<=": limit + 1, ">": limit - 1, ">=": limit - 1, "==": limit + 1,
             "!=": limit}[op]  # fmt: skip
    values = [worse if b else good for b in bad]
    return {"series": series_name(name, labels), "values": notation(values)}


def _resource_series(slo: SLO, sli: SampleSLI, bad: list[bool], tl: Timeline) -> dict[str, str]:
    """CPU: a seconds counter at half or twice ``max_cores``; memory: a gauge at half or twice."""
    limit = _bool_limit(sli)
    name, labels = series_labels([sli.source])
    if sli.kind == "memory":
        values = [limit * 2 if b else limit / 2 for b in bad]
    else:
        values, used = [], Fraction(0)
        for b in bad:
            values.append(used)
            used += (limit * 2 if b else limit / 2) * tl.scrape
    return {"series": series_name(name, labels), "values": notation(values)}


def _bool_limit(sli: SampleSLI) -> Fraction:
    """The SLI's limit, exactly as the rules write it (``0.8``, not the nearest binary)."""
    return Fraction(number(sli.limit))


# --- history for a TSDB: OpenMetrics files -----------------------------------------------


def write_openmetrics(
    path: Path,
    series: Iterable[tuple[str, str, Sequence[float], Sequence[float]]],
    value_format: str = "",
) -> Path:
    """Write ``series`` (family, labels as ``k="v",...``, times, values) to one OpenMetrics
    file for ``promtool tsdb create-blocks-from openmetrics``: each family typed ``unknown``
    once, in the order first seen, its series' samples in time order, then ``# EOF``.

    ``value_format``: a format spec for the values (``""``: shortest exact, ``.0f``).
    A month belongs in one file per day: promtool rescans a whole file per 2-hour block.
    """
    families: dict[str, list[tuple[str, Sequence[float], Sequence[float]]]] = {}
    for family, labels, times, values in series:
        families.setdefault(family, []).append((labels, times, values))
    with path.open("w", encoding="utf-8") as fh:
        for family, members in families.items():
            fh.write(f"# TYPE {family} unknown\n")
            for labels, times, values in members:
                prefix = f"{family}{{{labels}}} "
                fh.write("".join(f"{prefix}{v:{value_format}} {t:.0f}\n"
                                 for v, t in zip(values, times, strict=True)))  # fmt: skip
        fh.write("# EOF\n")
    return path
