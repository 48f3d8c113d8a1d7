"""Backfill a Prometheus data folder: raw series, then the recording rules over them.

``promtool tsdb create-blocks-from openmetrics`` turns each day's file into
blocks. The recording rules are then evaluated over the whole past by range
queries against a temporary Prometheus (no scraping, no rules, a free port)
serving those blocks, written as OpenMetrics and turned into blocks the same
way. Rules that read other recorded series are evaluated level by level,
restarting the temporary Prometheus in between so it loads the new blocks.
The lab's data folder finally gets one set of blocks per day, raw and
recorded series together.

Why not ``promtool tsdb create-blocks-from rules``: measured here (2.42) it
writes one block per rule per 2 hours (about 250 blocks and 49 s for one day
of history, some 10,000 blocks for 30 days) and its second-level rules came
out empty; the range queries give the same series in 4.7 s for a day, 56 s for
30 days (docs/benchmarks.md).

Which rules: the closure of the series read over the past (budget left,
period burn rate, coverage when recorded, each SLO's shortest window), taken
from whatever rule files the lab loads, so the backfill follows the rules
when they change.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from slolab.slo import conventions as c
from slolab.slo.durations import parse_duration
from slolab.slo.model import SLO

__all__ = ["BackfillError", "Tools", "backfill", "group_step", "rule_levels", "wanted_series"]

# Shortest evaluation step of the backfilled recorded series: a group evaluated
# more often is backfilled every 5 minutes (the lookback: any instant query finds
# a sample; 30 days at 30 s would pass the 11,000 points a range query returns).
# A group evaluated less often gets its own interval: the 5-minute aggregates
# must be one sample per window, each event counted once.
RULE_STEP = timedelta(minutes=5)
# Prometheus's global evaluation_interval when a group names none.
DEFAULT_INTERVAL = timedelta(minutes=1)
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


class BackfillError(RuntimeError):
    """A promtool run or the temporary Prometheus failed; the message has its output."""


@dataclass(frozen=True)
class Tools:
    """What a backfill runs with: the two binaries, a scratch folder (``work``), the
    address the temporary Prometheus listens on, and where progress lines go."""

    promtool: str
    prometheus: str
    work: Path
    host: str = "127.0.0.1"
    echo: Callable[[str], None] = print


def wanted_series(slos: Iterable[SLO]) -> set[str]:
    """Recorded names read over the past: burn-down, period figures, the SLI chart."""
    names = {c.RULE_BUDGET_REMAINING, c.RULE_PERIOD_BURN_RATE, c.RULE_ERROR_RATIO_PERIOD,
             c.RULE_PERIOD_COVERAGE}  # fmt: skip
    names |= {c.error_ratio_rule(slo.short_window) for slo in slos}
    return names


def _records(groups: Sequence[dict[str, Any]]) -> dict[str, set[str]]:
    """Recorded name -> names its expressions read (over every rule recording it)."""
    reads: dict[str, set[str]] = {}
    for group in groups:
        for rule in group.get("rules") or []:
            if "record" in rule:
                reads.setdefault(rule["record"], set()).update(_NAME.findall(str(rule["expr"])))
    return reads


def rule_levels(groups: Sequence[dict[str, Any]], wanted: set[str]) -> list[set[str]]:
    """The recorded names ``wanted`` needs (and they), grouped by dependency level."""
    reads = _records(groups)
    needed: set[str] = set()
    todo = [n for n in wanted if n in reads]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(d for d in reads[name] if d in reads and d not in needed)
    level: dict[str, int] = {}

    def depth(name: str, seen: tuple[str, ...] = ()) -> int:
        if name in seen:
            raise BackfillError(f"recording rules depend on each other in a cycle: {name}")
        if name not in level:
            deps = [d for d in reads[name] if d in reads and d != name]
            level[name] = 1 + max((depth(d, (*seen, name)) for d in deps), default=-1)
        return level[name]

    for name in needed:
        depth(name)
    out: list[set[str]] = [set() for _ in range(max(level.values(), default=-1) + 1)]
    for name, n in level.items():
        out[n].add(name)
    return out


def group_step(group: dict[str, Any]) -> timedelta:
    """The range-query step that backfills ``group`` as Prometheus would evaluate it."""
    interval = group.get("interval")
    return max(parse_duration(str(interval)) if interval else DEFAULT_INTERVAL, RULE_STEP)


def _load_groups(rule_files: Iterable[Path]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in rule_files:
        groups.extend((yaml.safe_load(path.read_text()) or {}).get("groups") or [])
    return groups


def backfill(
    openmetrics: Mapping[str, Path],
    data_dir: Path,
    rule_files: Sequence[Path],
    wanted: set[str],
    start: float,
    end: float,
    tools: Tools,
    *,
    alerts: bool = True,
) -> dict[str, float]:
    """Write blocks for the raw ``openmetrics`` (by UTC day), the rules ``wanted`` needs, and
    the alerts' history.

    The rules and alerts are replayed over the raw series
    (:func:`slolab.slo.replay.replay`: each group at its own interval, ``for:``
    honoured); ``data_dir`` then gets one set of blocks per day holding raw
    series, recorded series (every RULE_STEP) and ``ALERTS``/``ALERTS_FOR_STATE``
    together (blocks that overlap in time are merged by Prometheus at start, and
    were not all queryable while it did). ``start``/``end`` bound the evaluation
    (unix seconds); ``alerts=False`` leaves the alerts out (bench.history measures what
    they cost). Returns seconds per stage (``raw``, ``rules``, ``alerts``,
    ``blocks``).
    """
    from slolab.slo import replay

    promtool, work, echo = tools.promtool, tools.work, tools.echo
    took: dict[str, float] = {}
    # One TSDB for the raw series and what the replay records: served apart (the replay's
    # source mode) the raw series went through remote read once per selector and query,
    # which cost more than Prometheus's merging of the overlapping blocks (bench.history).
    scratch = work / "scratch-tsdb"
    work.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    try:
        for _ in replay.parallel(lambda path: replay.blocks(promtool, path, scratch),
                                 openmetrics.values()):  # fmt: skip
            pass
    except replay.ReplayError as exc:
        raise BackfillError(str(exc)) from None
    took["raw"] = round(time.monotonic() - began, 1)
    echo(f"lab: history: {len(openmetrics)} days of raw series in {took['raw']}s")

    groups = _load_groups(rule_files)
    keep = set().union(*rule_levels(groups, wanted))
    try:
        done = replay.replay(
            groups, start, end,
            replay.Tools(tools.promtool, tools.prometheus, work / "replay", tools.host),
            scratch=scratch, alerts=_replayed_alert if alerts else lambda rule: False, keep=keep,
            keep_step=RULE_STEP.total_seconds(), record_step=RULE_STEP.total_seconds(),
        )  # fmt: skip
    except replay.ReplayError as exc:
        raise BackfillError(str(exc)) from None
    took.update(done.took)
    fired = sum(len(s.episodes()) for s in done.alerts)
    echo(f"lab: history: {len(keep)} recorded series names evaluated in {took['rules']}s, "
         f"alerts replayed in {took['alerts']}s ({fired} firing episodes)")  # fmt: skip

    began = time.monotonic()
    data_dir.mkdir(parents=True, exist_ok=True)
    recorded_days = replay.split_by_day([*done.recorded, *replay.alert_series(done.alerts)])
    days = sorted(set(openmetrics) | set(recorded_days))

    def one(day: str) -> None:
        raw = openmetrics[day].read_text(encoding="utf-8") if day in openmetrics else ""
        combined = work / f"combined-{day}.om"
        combined.write_text(
            raw.removesuffix("# EOF\n")
            + replay.openmetrics_text(recorded_days.get(day, []))
            + "# EOF\n",
            encoding="utf-8",
        )
        replay.blocks(promtool, combined, data_dir)
        combined.unlink()

    try:
        for _ in replay.parallel(one, days):
            pass
    except replay.ReplayError as exc:
        raise BackfillError(str(exc)) from None
    shutil.rmtree(scratch, ignore_errors=True)
    took["blocks"] = round(time.monotonic() - began, 1)
    echo(f"lab: history: {len(days)} days of blocks written in {took['blocks']}s")
    return took


def _replayed_alert(rule: Mapping[str, Any]) -> bool:
    """Every alert but SLOSLINoData: between incidents the generated past is sampled every
    5 minutes, thinner than the shortest SLI windows (which see no data between samples)."""
    return rule["alert"] != c.ALERT_NO_DATA
