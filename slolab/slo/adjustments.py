"""Budget adjustments (planned work) in ``slos.yaml``: add, remove, list.

An adjustment's events count neither good nor bad in the period SLI and budget,
and its SLOs' burn-rate alerts do not page while it runs (the generated rules do
both: docs/slo-spec.md, "Budget adjustments"). ``slolab slo adjust`` edits the
file in place (comments kept, the result validated before it is written); run
``slolab slo generate`` afterwards, as after any change to the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from slolab.slo.durations import format_duration
from slolab.slo.files import rewrite
from slolab.slo.model import SLO
from slolab.slo.spec import SpecError, parse_spec

__all__ = ["add", "listing", "remove"]


def _write(path: Path, change: Any) -> str:
    return rewrite(path, change, lambda text: parse_spec(text, source=str(path)))


def _flow(items: Sequence[str]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def add(path: Path, name: str, *, reason: str, start: datetime, end: datetime | None = None,
        duration: str | None = None, every: str | None = None, slos: Sequence[str] = (),
        services: Sequence[str] = ()) -> str:  # fmt: skip
    """Add adjustment ``name`` to the SLO file at ``path``; return the new text."""
    entry = CommentedMap(name=name, reason=reason, start=start.isoformat().replace("+00:00", "Z"))
    if end is not None:
        entry["end"] = end.isoformat().replace("+00:00", "Z")
    if duration is not None:
        entry["duration"] = duration
    if every is not None:
        entry["every"] = every
    if slos:
        entry["slos"] = _flow(list(slos))
    if services:
        entry["services"] = _flow(list(services))

    def change(data: CommentedMap) -> None:
        existing = data.get("adjustments")
        if existing is None:
            data.insert(list(data).index("slos"), "adjustments", CommentedSeq())
            existing = data["adjustments"]
        if any(a.get("name") == name for a in existing):
            raise SpecError(f"{path}: adjustment {name!r} exists already (remove it first)")
        existing.append(entry)

    return _write(path, change)


def remove(path: Path, name: str) -> str:
    """Remove adjustment ``name``; return the new text."""

    def change(data: CommentedMap) -> None:
        existing = data.get("adjustments") or []
        names = [a.get("name") for a in existing]
        if name not in names:
            known = ", ".join(str(n) for n in names) or "none"
            raise SpecError(f"{path}: no adjustment named {name!r} (adjustments: {known})")
        del existing[names.index(name)]
        if not existing:
            del data["adjustments"]

    return _write(path, change)


def listing(slos: Sequence[SLO], now: datetime, ahead: timedelta) -> list[str]:
    """One line per adjustment: its SLOs and its windows from ``now`` to ``now + ahead``."""
    by_name: dict[str, tuple[Any, list[str]]] = {}
    for slo in slos:
        for adj in slo.adjustments:
            by_name.setdefault(adj.name, (adj, []))[1].append(slo.name)
    lines = []
    for name, (adj, members) in by_name.items():
        repeat = f", every {format_duration(adj.every)}" if adj.every else ""
        windows = adj.windows(now, now + ahead)
        shown = "; ".join(
            f"{a:%Y-%m-%d %H:%M} to {b:%H:%M} UTC{' (now)' if a <= now < b else ''}"
            for a, b in windows[:5]
        )
        span = f"{format_duration(adj.length)}{repeat}"
        lines.append(
            f"{name}: {adj.reason} ({span}) for {', '.join(members)}: "
            + (shown or f"none in the next {ahead.days} days")
        )
    return lines
