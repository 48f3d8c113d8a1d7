"""Check SLO selectors and latency thresholds against live ``/metrics`` endpoints.

``slolab slo validate --against URL…`` fetches each URL (a base URL gets
``/metrics``), parses the exposition (``prometheus_client.parser``) and checks,
for every SLO, that each selector of its SLI matches at least one exported
series, and for latency SLIs that every target exporting the histogram has a
bucket at the threshold. A target without it (an old bucket list mid-rollout)
is left out of the SLI by the generated rules; on every target, the SLI has no
data and SLOSLINoData fires. ``job`` and ``instance`` matchers are ignored:
Prometheus adds those labels at scrape time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import promql_parser
from prometheus_client.parser import text_string_to_metric_families

from slolab.slo import promql
from slolab.slo.model import SLO, LatencySLI, RatioSLI, SampleSLI, number

__all__ = ["Result", "Target", "check", "fetch", "metrics_url"]

_TARGET_LABELS = frozenset({"job", "instance"})
Sample = tuple[str, dict[str, str]]


@dataclass(frozen=True)
class Target:
    url: str
    samples: tuple[Sample, ...]


@dataclass
class Result:
    slo: SLO
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def metrics_url(url: str) -> str:
    """``http://host:8081`` -> ``http://host:8081/metrics``; full URLs unchanged."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--against: {url!r} is not an http(s) URL")
    return url.rstrip("/") + "/metrics" if parts.path in ("", "/") else url


def fetch(url: str, get: Callable[..., httpx.Response] = httpx.get) -> Target:
    """Fetch and parse one exposition; ValueError naming the URL on any failure."""
    full = metrics_url(url)
    try:
        resp = get(full, timeout=10.0)
    except httpx.HTTPError as exc:
        raise ValueError(f"--against: cannot fetch {full}: {exc}") from None
    if resp.status_code != 200:
        raise ValueError(f"--against: {full} answered HTTP {resp.status_code}")
    try:
        samples = tuple(
            (s.name, dict(s.labels))
            for family in text_string_to_metric_families(resp.text)
            for s in family.samples
        )
    except ValueError as exc:
        raise ValueError(f"--against: {full} is not Prometheus text format: {exc}") from None
    return Target(full, samples)


def _matcher(op: str, want: str) -> Callable[[str], bool]:
    if op == "=":
        return lambda v: v == want
    if op == "!=":
        return lambda v: v != want
    pattern = re.compile(want)  # PromQL regexes are anchored
    if op == "=~":
        return lambda v: pattern.fullmatch(v) is not None
    return lambda v: pattern.fullmatch(v) is None


_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def _selector(text: str) -> tuple[str, list[tuple[str, Callable[[str], bool]]]]:
    node = promql_parser.parse(text)
    assert isinstance(node, promql_parser.VectorSelector)
    checks = []
    for m in node.matchers.matchers:
        if m.name in _TARGET_LABELS or m.name == "__name__":
            continue
        op = _OPS[str(m.op).rsplit(".", 1)[-1]]
        checks.append((m.name, _matcher(op, m.value)))
    return node.name or "", checks


def _matching(target: Target, selector: str) -> list[dict[str, str]]:
    name, checks = _selector(selector)
    return [
        labels
        for sample_name, labels in target.samples
        if sample_name == name and all(ok(labels.get(k, "")) for k, ok in checks)
    ]


def _check_selectors(result: Result, targets: Sequence[Target], selectors: Iterable[str]) -> None:
    for sel in selectors:
        found = [t.url for t in targets if _matching(t, sel)]
        if not found:
            result.problems.append(f"{sel} matches no series on {_urls(targets)}")
        else:
            result.notes.append(f"{sel} on {', '.join(found)}")


def _urls(targets: Sequence[Target]) -> str:
    return ", ".join(t.url for t in targets)


def _check_buckets(result: Result, targets: Sequence[Target], sli: LatencySLI) -> None:
    threshold = sli.threshold_seconds
    count = promql.count_selector(sli)
    bucket = promql.histogram_buckets(sli)
    exporting = [t for t in targets if _matching(t, count)]
    if not exporting:
        result.problems.append(f"{count} matches no series on {_urls(targets)}")
        return
    lacking = []
    for t in exporting:
        bounds = {_le(labels.get("le", "")) for labels in _matching(t, bucket)}
        if not any(b is not None and abs(b - threshold) <= 1e-9 * max(1.0, b) for b in bounds):
            shown = " ".join(f"{b:g}" for b in sorted(b for b in bounds if b is not None))
            lacking.append(f"{t.url} (buckets: {shown or 'none'})")
    if lacking and len(lacking) == len(exporting):
        result.problems.append(
            f"no bucket le={number(threshold)} for {bucket} on any target: the SLI has no data "
            f"({'; '.join(lacking)})"
        )
    elif lacking:
        result.problems.append(
            f"bucket le={number(threshold)} missing on {'; '.join(lacking)}: those targets are "
            "left out of the SLI until they export it"
        )
    else:
        result.notes.append(f"bucket le={number(threshold)} on {_urls(exporting)}")


def _le(text: str) -> float | None:
    """A finite bucket boundary (+Inf is no threshold), else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check(slos: Sequence[SLO], targets: Sequence[Target]) -> list[Result]:
    """One result per SLO: problems (selectors matching nothing, missing buckets) and notes."""
    results = []
    for slo in slos:
        result = Result(slo)
        sli = slo.sli
        if isinstance(sli, LatencySLI):
            _check_buckets(result, targets, sli)
        elif isinstance(sli, RatioSLI):
            _check_selectors(result, targets, promql.selectors(sli))
        elif isinstance(sli, SampleSLI) and sli.kind != "threshold":
            _check_selectors(result, targets, [sli.source])
        else:  # a PromQL expression, not a selector: Prometheus alone can evaluate it
            result.notes.append("threshold expression not checked")
        results.append(result)
    return results
