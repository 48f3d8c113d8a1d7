"""Synthetic series for a simulation or a benchmark: names and labels that an SLO's
selectors select (and its error selector does not), from the selectors alone.

Used by :mod:`slolab.slo.simulate` (promtool input series) and ``bench/rulecost``
(a month of backfilled history).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice

import exrex
import promql_parser

__all__ = [
    "SimulationError",
    "label_holds",
    "matchers_of",
    "selects",
    "series_labels",
    "series_name",
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
