"""Replay a stretch of the past through rule groups, evaluated by Prometheus itself.

What a Prometheus running ``groups`` over ``[start, end]`` would have recorded
and alerted, computed after the fact:

1. The recording rules the alerts read (and those they read, level by level)
   are evaluated by range queries at their group's real interval, on the
   interval's multiples: rules reading raw series against the Prometheus that
   holds them (``source``), rules reading recorded series against a scratch
   Prometheus serving what the earlier levels recorded. Each level's output
   becomes TSDB blocks (one OpenMetrics file per UTC day, ``promtool tsdb
   create-blocks-from openmetrics``: one big file is rescanned per 2-hour block,
   see NOTES) before the next level is read.
2. Each alerting rule's expression is range-queried the same way, and its
   ``for:`` applied in Python exactly as Prometheus's rule manager does: a
   series becomes pending at its first active evaluation, firing once it has
   been active for ``for:``, and is gone at the first evaluation without it.
3. :func:`alert_series` turns those states into the ``ALERTS`` and
   ``ALERTS_FOR_STATE`` samples a live Prometheus writes each evaluation.

Why range queries and not ``promtool tsdb create-blocks-from rules``: the
importer records no alerting rules, writes one block per rule per 2 hours, and
its second-level rules came out empty (slolab.lab.backfill; docs/benchmarks.md
has both timed). A range query evaluates an expression at exactly the instants
a group evaluated at, so within a group the recording rules and the alerts see
the same samples as they do live; a live Prometheus runs each group at its own
phase, hence results agree to one evaluation interval.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from slolab.slo.durations import parse_duration

__all__ = [
    "DEFAULT_INTERVAL",
    "AlertState",
    "Progress",
    "Recorded",
    "ReplayError",
    "ScratchPrometheus",
    "Tools",
    "alert_series",
    "blocks_by_day",
    "group_interval",
    "openmetrics_text",
    "replay",
    "rule_levels",
    "rule_reads",
    "split_by_day",
]

# Prometheus's global evaluation_interval when a group names none.
DEFAULT_INTERVAL = timedelta(minutes=1)
# Queries and promtool runs at once: Prometheus runs a query on one core, promtool
# writes a block on about one; more would only queue on a 2-core machine.
WORKERS = 2
# A range query returns at most 11,000 points per series.
_MAX_POINTS = 10_000
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")

# (metric name, labels, [(unix time, value)]) of one recorded series.
Recorded = tuple[str, dict[str, str], list[tuple[float, float]]]
# done, total, what: called as work advances (a progress bar, or nothing).
Progress = Callable[[int, int, str], None]


class ReplayError(RuntimeError):
    """promtool, the scratch Prometheus or a query failed; the message says which and why."""


@dataclass(frozen=True)
class Tools:
    """The binaries, a scratch folder, the host the scratch Prometheus listens on."""

    promtool: str
    prometheus: str
    work: Path
    host: str = "127.0.0.1"

    @classmethod
    def found(cls, work: Path) -> Tools:
        """promtool and prometheus from PATH; ReplayError naming the missing one."""
        paths = {name: shutil.which(name) for name in ("promtool", "prometheus")}
        missing = [name for name, path in paths.items() if path is None]
        if missing:
            raise ReplayError(
                f"{' and '.join(missing)} not found on PATH: install Prometheus "
                "(Debian: apt-get install prometheus)"
            )
        return cls(str(paths["promtool"]), str(paths["prometheus"]), work)


@dataclass
class AlertState:
    """One alert series over the replay: when it was pending/firing, evaluation by evaluation."""

    alert: str
    labels: dict[str, str]  # the expression's labels with the rule's labels on top
    interval: float  # seconds between its group's evaluations
    # (evaluation time, "pending" | "firing", active since) for each evaluation it was active.
    states: list[tuple[float, str, float]] = field(default_factory=list)

    def episodes(self) -> list[tuple[float, float]]:
        """(first firing evaluation, first evaluation after the last) of each firing run."""
        out: list[tuple[float, float]] = []
        for t, state, _ in self.states:
            if state != "firing":
                continue
            if out and t - out[-1][1] < self.interval / 2:
                out[-1] = (out[-1][0], t + self.interval)
            else:
                out.append((t, t + self.interval))
        return out


def group_interval(group: Mapping[str, Any]) -> timedelta:
    interval = group.get("interval")
    return parse_duration(str(interval)) if interval else DEFAULT_INTERVAL


def rule_reads(rule: Mapping[str, Any]) -> set[str]:
    """Every name-like token of a rule's expression (metric names among them)."""
    return set(_NAME.findall(str(rule["expr"])))


def _recorded_names(groups: Sequence[Mapping[str, Any]]) -> set[str]:
    return {r["record"] for g in groups for r in g.get("rules") or [] if "record" in r}


def rule_levels(
    groups: Sequence[Mapping[str, Any]], wanted: set[str]
) -> list[list[tuple[Mapping[str, Any], Mapping[str, Any]]]]:
    """(group, rule) of every recording rule ``wanted`` needs, by dependency level.

    A rule's level is one more than the highest level of the recorded names it
    reads; a name's level is that of its highest rule (one name, e.g. an error
    ratio, is recorded by many rules, some from raw series, some from others).
    """
    recorded = _recorded_names(groups)
    rules = [(g, r) for g in groups for r in g.get("rules") or [] if "record" in r]
    by_name: dict[str, list[int]] = {}
    for i, (_, r) in enumerate(rules):
        by_name.setdefault(r["record"], []).append(i)
    needed: set[int] = set()
    todo = [n for n in wanted if n in recorded]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for i in by_name[name]:
            needed.add(i)
            todo.extend(rule_reads(rules[i][1]) & recorded - seen)
    level: dict[str, int] = {}

    def name_level(name: str, path: tuple[str, ...]) -> int:
        if name in path:
            raise ReplayError(f"recording rules depend on each other in a cycle: {name}")
        if name not in level:
            level[name] = max(rule_level(i, (*path, name)) for i in by_name[name])
        return level[name]

    def rule_level(i: int, path: tuple[str, ...]) -> int:
        deps = rule_reads(rules[i][1]) & recorded
        return 1 + max((name_level(d, path) for d in deps), default=-1)

    levels: dict[int, list[tuple[Mapping[str, Any], Mapping[str, Any]]]] = {}
    for i in sorted(needed):
        levels.setdefault(rule_level(i, ()), []).append(rules[i])
    return [levels[n] for n in sorted(levels)]


# --- inlining a group's own recording rules into its alerts ----------------------------

_SELECTOR = re.compile(r"(?<![\w:])(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*:[a-zA-Z0-9_:]*)"
                       r"(?:\{(?P<matchers>[^{}]*)\})?(?P<range>\s*\[)?")  # fmt: skip
_MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def _equalities(text: str) -> dict[str, str] | None:
    """``a="x", b="y"`` as a dict; None when any matcher is not a plain equality."""
    out, pos = {}, 0
    text = text.strip()
    while pos < len(text):
        m = _MATCHER.match(text, pos)
        if m is None:
            return None
        out[m.group(1)] = m.group(2)
        pos = m.end()
    return out


def _with_labels(expr: str, labels: Mapping[str, str]) -> str:
    out = f"({expr})"
    for k, v in sorted(labels.items()):
        out = f'label_replace({out}, "{k}", "{_escape(v)}", "", "")'
    return out


def inline(expr: str, group: Mapping[str, Any], depth: int = 0) -> str:
    """``expr`` with the recorded series of ``group``'s own rules replaced by their expressions.

    Exact for an alert reading rules of its group: the group evaluates them just
    before it, at the same instant, so the alert reads the value the expression
    has there. A selector is replaced only when it names a recorded series with
    plain ``label="value"`` matchers, all on the rules' static labels, and is not
    a range (a subquery would be needed); otherwise it stays, and is recorded.
    """
    rules = [r for r in group.get("rules") or [] if "record" in r]
    names = {r["record"] for r in rules}

    def replace(m: re.Match[str]) -> str:
        name = m.group("name")
        if name not in names or m.group("range") or depth > 8:
            return m.group(0)
        wanted = _equalities(m.group("matchers") or "")
        if wanted is None:
            return m.group(0)
        parts = []
        for rule in rules:
            static = {k: str(v) for k, v in (rule.get("labels") or {}).items()}
            if rule["record"] != name:
                continue
            if any(k not in static for k in wanted):
                return m.group(0)  # decided by the expression's own labels: record it
            if all(static[k] == v for k, v in wanted.items()):
                parts.append(_with_labels(inline(str(rule["expr"]), group, depth + 1), static))
        if not parts:
            return m.group(0)
        return "(" + " or ".join(parts) + ")"

    return _SELECTOR.sub(replace, expr)


# A label no series has: a selector matching it empty (every series) is sent to the
# source by the scratch Prometheus's remote read, one without it is not.
SOURCE_MARK = "slolab_replay_source"
_RAW = re.compile(r"(?<![\w:\"])(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{")


def mark_raw(expr: str, recorded: set[str]) -> str:
    """``expr`` with every selector of a series not in ``recorded`` marked SOURCE_MARK."""

    def mark(m: re.Match[str]) -> str:
        name = m.group("name")
        return m.group(0) if name in recorded else f'{name}{{{SOURCE_MARK}="", '

    return _RAW.sub(mark, expr).replace(", }", "}")


# --- OpenMetrics and blocks --------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels_text(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}"


def openmetrics_text(series: Iterable[Recorded]) -> str:
    """OpenMetrics families (typed ``unknown``) of ``series``, without ``# EOF``."""
    by_name: dict[str, list[str]] = {}
    for name, labels, points in series:
        text = name + _labels_text(labels)
        by_name.setdefault(name, []).extend(f"{text} {v!r} {t:.0f}\n" for t, v in points)
    return "".join(
        f"# TYPE {name} unknown\n" + "".join(lines) for name, lines in by_name.items() if lines
    )


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).date().isoformat()


def split_by_day(series: Iterable[Recorded]) -> dict[str, list[Recorded]]:
    """The same series split by the UTC day of their samples."""
    days: dict[str, dict[tuple[str, str], Recorded]] = {}
    for name, labels, points in series:
        key = (name, _labels_text(labels))
        for t, v in points:
            day = days.setdefault(_day(t), {})
            if key not in day:
                day[key] = (name, labels, [])
            day[key][2].append((t, v))
    return {d: list(s.values()) for d, s in sorted(days.items())}


def parallel(fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
    """``fn(x)`` for each of ``items``, in order, WORKERS at a time (threads: the work is
    done by Prometheus and promtool)."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        yield from pool.map(fn, items)


def run_tool(argv: list[str], what: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise ReplayError(f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n{tail}")
    return proc.stdout


# promtool's blocks span the largest of 2h x 3^n not above --max-block-duration, aligned
# on multiples of it: 24h gives 18-hour blocks, so a day's file makes two and they
# overlap the next day's, which Prometheus merges (vertical compaction, and merged
# reads until then). Six-hour blocks, which divide a day, overlapped nothing but made
# the replay's 30-day queries read four times as many blocks: the alerts took twice as
# long (bench.history). promtool rescans a file per block: a day per file.
BLOCK = "24h"


def blocks(promtool: str, path: Path, data_dir: Path) -> None:
    """TSDB blocks of one OpenMetrics file holding one UTC day (see BLOCK)."""
    run_tool([promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet",
              f"--max-block-duration={BLOCK}", str(path), str(data_dir)],
             f"promtool create-blocks-from openmetrics {path.name}")  # fmt: skip


def blocks_by_day(
    promtool: str, series: Iterable[Recorded], data_dir: Path, work: Path, tag: str
) -> int:
    """Write ``series`` into ``data_dir`` as blocks, one OpenMetrics file per UTC day."""
    work.mkdir(parents=True, exist_ok=True)
    days = split_by_day(series)

    def one(day: str) -> None:
        path = work / f"{tag}-{day}.om"
        path.write_text(openmetrics_text(days[day]) + "# EOF\n", encoding="utf-8")
        blocks(promtool, path, data_dir)
        path.unlink()

    for _ in parallel(one, days):
        pass
    return len(days)


# --- the scratch Prometheus ----------------------------------------------------------


class ScratchPrometheus:
    """A Prometheus on a free port serving ``data_dir``: no scraping, no rules."""

    def __init__(
        self,
        tools: Tools,
        data_dir: Path,
        source: str | None = None,
        ready_timeout: float = 120,
        query_timeout: float = 300,
    ) -> None:
        self.tools, self.data_dir, self.ready_timeout = tools, data_dir, ready_timeout
        self.query_timeout = query_timeout
        self.source = source
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> ScratchPrometheus:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        import socket

        work = self.tools.work
        work.mkdir(parents=True, exist_ok=True)
        config = work / "scratch-prometheus.yml"
        settings: dict[str, Any] = {"global": {}}
        if self.source is not None:
            # Raw series stay where they are: selectors marked by mark_raw() are read from
            # the source (remote read), the recorded ones from the scratch TSDB only.
            settings["remote_read"] = [{
                "url": self.source.rstrip("/") + "/api/v1/read", "read_recent": True,
                "required_matchers": {SOURCE_MARK: ""}, "remote_timeout": "5m",
            }]  # fmt: skip
        config.write_text(json.dumps(settings), encoding="utf-8")
        with socket.socket() as sock:  # a free port (the OS's pick), released for Prometheus
            sock.bind((self.tools.host, 0))
            port = sock.getsockname()[1]
        self.url = f"http://{self.tools.host}:{port}"
        log = (work / "scratch-prometheus.log").open("ab")
        argv = [self.tools.prometheus, f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir}",
                "--storage.tsdb.retention.time=3650d",  # never drop the past it serves
                # Prometheus's own 2-minute default cut a 30-day range query short on a
                # loaded machine (the lab's history failed): ours is the one that counts.
                f"--query.timeout={math.ceil(self.query_timeout)}s",
                f"--web.listen-address={self.tools.host}:{port}"]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        tail = (work / "scratch-prometheus.log").read_text(errors="replace")[-1500:]
        raise ReplayError(f"the scratch Prometheus on {self.data_dir} did not get ready:\n{tail}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# --- evaluation -------------------------------------------------------------------------


def _instants(start: float, end: float, every: float) -> tuple[float, float]:
    """The first and last multiple of ``every`` within [start, end]."""
    return math.ceil(start / every) * every, math.floor(end / every) * every


def _range(
    prom: Any, expr: str, start: float, end: float, every: float
) -> dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]:
    """``expr`` at every multiple of ``every`` in [start, end], in chunks the API allows."""
    first, last = _instants(start, end, every)
    out: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    chunk = every * _MAX_POINTS
    t = first
    while t <= last:
        stop = min(t + chunk - every, last)
        for series in prom.query_range(expr, t, stop, timedelta(seconds=every)):
            key = tuple(sorted((k, v) for k, v in series.labels.items() if k != "__name__"))
            out.setdefault(key, []).extend((p, v) for p, v in series.points if v is not None)
        t = stop + every
    return out


def _steps(start: float, end: float, every: float) -> int:
    first, last = _instants(start, end, every)
    return max(int((last - first) // every) + 1, 0)


def _evaluate_rules(
    prom: Any,
    rules: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
    start: float,
    end: float,
    least: float,
    tick: Callable[[str], None],
) -> list[tuple[float, Recorded]]:
    """(evaluation step, series) of every series the ``rules`` record, each group at its
    interval or every ``least`` seconds, whichever is longer."""

    def one(item: tuple[Mapping[str, Any], Mapping[str, Any]]) -> list[tuple[float, Recorded]]:
        group, rule = item
        every = max(group_interval(group).total_seconds(), least)
        static = {k: str(v) for k, v in (rule.get("labels") or {}).items()}
        got = _range(prom, str(rule["expr"]), start, end, every)
        return [(every, (str(rule["record"]), {**dict(key), **static}, points))
                for key, points in got.items() if points]  # fmt: skip

    out: list[tuple[float, Recorded]] = []
    for (_, rule), found in zip(rules, parallel(one, rules), strict=True):
        out += found
        tick(str(rule["record"]))
    return out


def _alert_states(
    prom: Any, group: Mapping[str, Any], rule: Mapping[str, Any], start: float, end: float
) -> list[AlertState]:
    """Each series of one alerting rule, with ``for:`` applied as the rule manager does."""
    every = group_interval(group).total_seconds()
    hold = parse_duration(str(rule["for"])).total_seconds() if rule.get("for") else 0.0
    static = {k: str(v) for k, v in (rule.get("labels") or {}).items()}
    states = []
    for key, points in _range(prom, str(rule["expr"]), start, end, every).items():
        labels = {**dict(key), **static, "alertname": str(rule["alert"])}
        state = AlertState(str(rule["alert"]), labels, every)
        active_at: float | None = None
        previous: float | None = None
        for t, _ in points:
            if active_at is None or previous is None or t - previous > every * 1.5:
                active_at = t  # absent at the evaluation before: a new activation
            previous = t
            firing = t - active_at >= hold
            state.states.append((t, "firing" if firing else "pending", active_at))
        states.append(state)
    return states


@dataclass
class Replay:
    """What the replay computed: alert states, and the recorded series (if kept)."""

    start: float
    end: float
    alerts: list[AlertState]
    recorded: list[Recorded]
    took: dict[str, float]


def replay(
    groups: Sequence[Mapping[str, Any]],
    start: float,
    end: float,
    tools: Tools,
    *,
    source: str | None = None,
    scratch: Path | None = None,
    alerts: Callable[[Mapping[str, Any]], bool] = lambda rule: True,
    keep: set[str] | None = None,
    keep_step: float = 0,
    record_step: float = 0,
    progress: Progress | None = None,
    timeout: float = 300,
) -> Replay:
    """Evaluate the alerting rules of ``groups`` (those ``alerts`` keeps) over [start, end].

    ``source``: the Prometheus holding the raw series; None when ``scratch``
    already holds them (a backfill). ``scratch``: the TSDB the recorded series
    are written to (default: under ``tools.work``; removed unless given).
    ``keep``: recorded names to return (the rest only feed the alerts), thinned
    to one sample per ``keep_step`` seconds where their group runs more often.
    ``record_step``: record no series more often than this (0: each group's
    interval); the alerts themselves are always evaluated at their group's.
    """
    from slolab.slo.query import Prometheus, PrometheusError

    data = scratch or tools.work / "replay-tsdb"
    owned = scratch is None
    if owned:
        shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True, exist_ok=True)
    took: dict[str, float] = {}
    # Each alert with its group's own recording rules inlined (exact, see inline()).
    chosen = [
        (g, {**r, "expr": inline(str(r["expr"]), g)})
        for g in groups
        for r in g.get("rules") or []
        if "alert" in r and alerts(r)
    ]
    wanted = set().union(*(rule_reads(r) for _, r in chosen)) | (keep or set())
    levels = rule_levels(groups, wanted)
    recorded_names = _recorded_names(groups)
    total = sum(len(level) for level in levels) + len(chosen)
    done = 0

    def tick(what: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, what)

    kept: list[Recorded] = []
    scratch_prom = ScratchPrometheus(tools, data, source, query_timeout=timeout)
    # An alert reading raw series only (a page's windows, once inlined) is evaluated by
    # the source itself: through the scratch Prometheus's remote read the same query
    # took twice as long (every selector's samples sent over, query by query).
    direct = [source is not None and not rule_reads(r) & recorded_names for _, r in chosen]
    if source is not None:
        chosen = [(g, r if raw else {**r, "expr": mark_raw(str(r["expr"]), recorded_names)})
                  for (g, r), raw in zip(chosen, direct, strict=True)]  # fmt: skip
        levels = [[(g, {**r, "expr": mark_raw(str(r["expr"]), recorded_names)}) for g, r in level]
                  for level in levels]  # fmt: skip
    began = time.monotonic()
    try:
        for n, level in enumerate(levels):
            raw_rules = [x for x in level if not rule_reads(x[1]) & recorded_names]
            rec_rules = [x for x in level if rule_reads(x[1]) & recorded_names]
            got: list[tuple[float, Recorded]] = []
            if source is not None and raw_rules:
                with Prometheus(source, timeout=timeout) as prom:
                    got += _evaluate_rules(prom, raw_rules, start, end, record_step, tick)
                rest = rec_rules
            else:
                rest = raw_rules + rec_rules
            if rest:
                scratch_prom.start()
                try:
                    with Prometheus(scratch_prom.url, timeout=timeout) as prom:
                        got += _evaluate_rules(prom, rest, start, end, record_step, tick)
                finally:
                    scratch_prom.stop()
            if keep:
                kept += [_thin(s, max(every, keep_step)) for every, s in got if s[0] in keep]
            blocks_by_day(tools.promtool, (s for _, s in got), data, tools.work, f"level-{n}")
        took["rules"] = round(time.monotonic() - began, 1)
        began = time.monotonic()
        states: list[AlertState] = []
        if chosen:
            if not all(direct):
                scratch_prom.start()

            def one(
                item: tuple[tuple[Mapping[str, Any], Mapping[str, Any]], bool],
            ) -> list[AlertState]:
                (group, rule), raw = item
                url = source if raw and source is not None else scratch_prom.url
                with Prometheus(url, timeout=timeout) as prom:
                    return _alert_states(prom, group, rule, start, end)

            pairs = list(zip(chosen, direct, strict=True))
            for (_, rule), found in zip(chosen, parallel(one, pairs), strict=True):
                states += found
                tick(str(rule["alert"]))
        took["alerts"] = round(time.monotonic() - began, 1)
    except PrometheusError as exc:
        raise ReplayError(str(exc)) from None
    finally:
        scratch_prom.stop()
        if owned:
            shutil.rmtree(data, ignore_errors=True)
    return Replay(start, end, states, kept, took)


def _thin(series: Recorded, every: float) -> Recorded:
    name, labels, points = series
    return name, labels, [(t, v) for t, v in points if t % every == 0]


def alert_series(states: Iterable[AlertState]) -> list[Recorded]:
    """The ``ALERTS`` and ``ALERTS_FOR_STATE`` samples a live Prometheus writes per evaluation."""
    out: list[Recorded] = []
    for state in states:
        by_state: dict[str, list[tuple[float, float]]] = {}
        for_state: list[tuple[float, float]] = []
        for t, kind, active_at in state.states:
            by_state.setdefault(kind, []).append((t, 1.0))
            for_state.append((t, float(active_at)))
        for kind, points in by_state.items():
            out.append(("ALERTS", {**state.labels, "alertstate": kind}, points))
        if for_state:
            out.append(("ALERTS_FOR_STATE", dict(state.labels), for_state))
    return out
