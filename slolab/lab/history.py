"""A synthetic past for the lab: raw series with a daily traffic shape and known incidents.

``make lab HISTORY=30d`` starts on a month of history instead of an empty
Prometheus, so budgets, burn-down charts and reports mean something from the
first minute. The history is generated here (deterministic: same end, same
numbers), written as one OpenMetrics file per day (promtool rescans a whole
file per 2-hour block: one big file takes many minutes, see NOTES), and turned
into TSDB blocks by ``promtool tsdb create-blocks-from openmetrics``. The SLO
recording rules are then backfilled from it (:mod:`slolab.lab.backfill`),
using whatever rule files the lab loads.

:func:`expected_error_ratio` computes, from the same numbers, what the period
error ratio must be: the test compares it with ``slolab slo status``.
"""

from __future__ import annotations

import itertools
import math
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from slolab.contract import (
    BUCKETS,
    JOBS,
    MODEL_LAST_TRAINED,
    PREDICTOR_DURATION,
    PREDICTOR_FEEDBACK,
    PREDICTOR_FEEDBACK_CORRECT,
    PREDICTOR_REQUESTS,
    TASKS_DURATION,
    TASKS_REQUESTS,
)

if TYPE_CHECKING:
    from slolab.lab.backfill import Tools
    from slolab.slo.model import SLO

__all__ = [
    "INCIDENTS",
    "History",
    "Incident",
    "build",
    "expected_error_ratio",
    "generate",
    "write_openmetrics",
]

STEP = timedelta(minutes=5)  # one sample per series every 5 minutes: 8,640 in 30 days
# Around incidents the counters are sampled as the lab scrapes (every 15 s), from
# DENSE_AROUND before each incident to DENSE_AROUND after it: a rate over the alerts'
# shortest windows (5m, and 1m for a 1-day period) needs two samples in the window,
# at every evaluation, or the replayed alerts would flicker where live ones fire.
# Gauges (probes, the training time) stay on the 5-minute grid: sum/count over a
# window weigh samples, not time, so denser samples would weigh the incident more.
DENSE_STEP = timedelta(seconds=15)
DENSE_AROUND = timedelta(hours=1)
INSTANCE = "history"  # the generated series' instance label: never mistaken for a live target
TASKS_PATH = "/api/tasks"
PREDICTOR_HANDLER = "/predict"
# Requests per second at the daily peak (the steady Locust scenario's order of magnitude).
PEAK_RPS = {"tasks": 6.0, "predictor": 3.0}
# Normal days: a small error and slow share, most feedback right, the probe up.
BASE_ERRORS = {"tasks": 0.0002, "predictor": 0.0001}
BASE_SLOW = {"tasks": 0.01, "predictor": 0.015}
BASE_ACCURACY = 0.93
RETRAIN_EVERY = timedelta(minutes=30)
FEEDBACK_SHARE = 0.3  # of predictions, later confirmed by ground truth
FAST_LATENCY = {"tasks": 0.02, "predictor": 0.03}  # seconds: the bucket good requests land in
SLOW_LATENCY = {"tasks": 1.0, "predictor": 0.3}  # above both thresholds (0.5 s, 0.2 s)
ERROR_LATENCY = 0.01


@dataclass(frozen=True)
class Incident:
    """A past incident: ``kind`` on ``service`` for ``duration``, ``ago`` before the end."""

    name: str
    service: str
    kind: str  # errors | slow | probe | drift
    ago: timedelta
    duration: timedelta
    ratio: float  # share of requests (probes, feedback) affected

    def active(self, t: float, end: float) -> bool:
        start = end - self.ago.total_seconds()
        return start <= t < start + self.duration.total_seconds()


def _d(days: float = 0, hours: float = 0, minutes: float = 0) -> timedelta:
    return timedelta(days=days, hours=hours, minutes=minutes)


# Chosen so a 30-day history leaves every budget partly spent, none exhausted,
# whatever hour and weekday it ends on (tests/lab/test_history.py): what an errors
# incident costs follows the traffic of the hour it falls on.
INCIDENTS: tuple[Incident, ...] = (
    Incident("tasks outage (bad deploy, rolled back)", "tasks", "errors",
             _d(23, 4), _d(minutes=10), 1.0),
    Incident("predictor slow after a model upgrade", "predictor", "slow",
             _d(12, 2), _d(hours=2), 0.4),
    Incident("tasks store flapping", "tasks", "errors", _d(5, 7), _d(hours=3), 0.03),
    Incident("probe path blocked by a firewall change", "tasks", "probe",
             _d(2, 3), _d(minutes=15), 1.0),
    Incident("predictor probe timing out during a node drain", "predictor", "probe",
             _d(17, 6), _d(minutes=10), 1.0),
    Incident("predictor model drift", "predictor", "drift", _d(0, 9), _d(hours=1), 0.5),
)  # fmt: skip


def traffic_shape(t: float) -> float:
    """Share of the peak rate at unix time ``t``: a quiet night, a busy afternoon, weekends."""
    when = datetime.fromtimestamp(t, UTC)
    hour = when.hour + when.minute / 60
    day = 0.3 + 0.7 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 3) / 24))
    return day * (0.6 if when.weekday() >= 5 else 1.0)


@dataclass
class History:
    """Per-step counts of every stream; cumulative series are derived from these."""

    end: float
    times: list[float]
    requests: dict[str, list[float]]
    errors: dict[str, list[float]]
    slow: dict[str, list[float]]
    feedback: list[float]
    correct: list[float]
    probe: dict[str, list[float]]  # service -> its blackbox probe's success per step
    trained: list[float]
    incidents: tuple[Incident, ...]
    on_grid: list[bool]  # whether the step is on the 5-minute grid (gauges are written there)


def _affected(
    incidents: tuple[Incident, ...], service: str, kind: str, t: float, end: float
) -> float | None:
    for inc in incidents:
        if inc.service == service and inc.kind == kind and inc.active(t, end):
            return inc.ratio
    return None


def generate(end: float, length: timedelta, incidents: tuple[Incident, ...] = INCIDENTS) -> History:
    """The history of ``length`` up to ``end`` (unix seconds), one step every :data:`STEP`.

    Incidents older than ``length`` are left out, so a short history in a test
    takes the same code path with fewer incidents.
    """
    step = STEP.total_seconds()
    end = end - end % step
    count = int(length.total_seconds() // step)
    grid = [end - (count - i) * step for i in range(1, count + 1)]
    kept = tuple(i for i in incidents if i.ago <= length)
    times = _times(grid, kept, end)
    on_grid = set(grid)
    # Each sample stands for the step it ends (as in `slo simulate`): a step's events
    # are those since the step before, bad when the incident covers that time.
    spans = [step, *(b - a for a, b in itertools.pairwise(times))]
    h = History(end, times, {}, {}, {}, [], [], {}, [], kept, [t in on_grid for t in times])
    for service in ("tasks", "predictor"):
        req, err, slow = [], [], []
        for t, span in zip(times, spans, strict=True):
            n = PEAK_RPS[service] * traffic_shape(t) * span
            e = _affected(kept, service, "errors", t - span, end)
            s = _affected(kept, service, "slow", t - span, end)
            errors = n * (BASE_ERRORS[service] if e is None else e)
            req.append(n)
            err.append(errors)
            slow.append((n - errors) * (BASE_SLOW[service] if s is None else s))
        h.requests[service], h.errors[service], h.slow[service] = req, err, slow
    for t, n, span in zip(times, h.requests["predictor"], spans, strict=True):
        fb = n * FEEDBACK_SHARE
        drift = _affected(kept, "predictor", "drift", t - span, end)
        h.feedback.append(fb)
        h.correct.append(fb * (BASE_ACCURACY if drift is None else 1 - drift))
        for service in ("tasks", "predictor"):
            down = _affected(kept, service, "probe", t - step, end) is not None
            h.probe.setdefault(service, []).append(0.0 if down else 1.0)
        h.trained.append(t - t % RETRAIN_EVERY.total_seconds())
    return h


def _times(grid: list[float], incidents: tuple[Incident, ...], end: float) -> list[float]:
    """The 5-minute grid, with every DENSE_STEP around incidents of the counters."""
    dense, every = set(grid), DENSE_STEP.total_seconds()
    for inc in incidents:
        if inc.kind == "probe":  # a gauge: the grid serves it (see DENSE_STEP)
            continue
        t = end - (inc.ago + DENSE_AROUND).total_seconds()
        stop = end - (inc.ago - inc.duration - DENSE_AROUND).total_seconds()
        while t <= min(stop, end):
            if t > grid[0]:
                dense.add(t)
            t += every
    return sorted(dense)


def expected_error_ratio(h: History, slo: SLO, window: timedelta) -> float:
    """The error ratio of one of the demo's SLOs over the last ``window`` of the history.

    Which generated series the SLO reads comes from its SLI as the spec declares it.
    """
    from slolab.slo.model import LatencySLI, RatioSLI, SampleSLI  # the toolkit: when needed

    start = h.end - window.total_seconds()
    idx = [i for i, t in enumerate(h.times) if t > start]

    def total(series: list[float]) -> float:
        return sum(series[i] for i in idx)

    sli, service = slo.sli, slo.service
    if isinstance(sli, SampleSLI) and sli.kind == "freshness":
        return 0.0  # retrained every 30 minutes: always under the hour
    if isinstance(sli, SampleSLI) and sli.kind == "probe":
        idx = [i for i in idx if h.on_grid[i]]
        return 1 - total(h.probe[service]) / len(idx)
    if isinstance(sli, LatencySLI):
        return total(h.slow[service]) / total(h.requests[service])
    if isinstance(sli, RatioSLI) and sli.total.startswith(PREDICTOR_FEEDBACK.name):
        return 1 - total(h.correct) / total(h.feedback)
    if isinstance(sli, RatioSLI):
        return total(h.errors[service]) / total(h.requests[service])
    raise ValueError(f"{slo.name}: the history generates no series for its SLI ({sli.kind})")


# --- OpenMetrics ---------------------------------------------------------------


def _labels(**labels: str) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels.items())


def _cumulative(values: list[float]) -> list[float]:
    """Running totals rounded to whole events: counters count requests."""
    out, acc = [], 0.0
    for v in values:
        acc += v
        out.append(float(round(acc)))
    return out


def _series(h: History) -> Iterator[tuple[str, str, list[float]]]:
    """(metric name, labels, value per step) of every generated series.

    Gauges get a value at every step too; :func:`write_openmetrics` writes
    theirs on the 5-minute grid only (:data:`GAUGES`).
    """
    jobs = {"tasks": JOBS["tasks"], "predictor": JOBS["predictor"]}
    for service in ("tasks", "predictor"):
        ok = [n - e for n, e in zip(h.requests[service], h.errors[service], strict=True)]
        fast = [o - s for o, s in zip(ok, h.slow[service], strict=True)]
        if service == "tasks":
            hist, counter = TASKS_DURATION.name, TASKS_REQUESTS.name
            where = {"method": "GET", "path": TASKS_PATH}
            counter_where = {"method": "GET"}
        else:
            hist, counter = PREDICTOR_DURATION.name, PREDICTOR_REQUESTS.name
            where = {"handler": PREDICTOR_HANDLER, "method": "POST"}
            counter_where = where
        base = {"job": jobs[service], "instance": INSTANCE}
        # Each status: its latency classes (seconds, requests per step).
        classes = {
            "200": [(FAST_LATENCY[service], fast), (SLOW_LATENCY[service], h.slow[service])],
            "500": [(ERROR_LATENCY, h.errors[service])],
        }
        for status, parts in classes.items():
            labels = {**base, **where, "status": status}
            for le in (*BUCKETS, math.inf):
                per_step = [sum(p[1][i] for p in parts if p[0] <= le) for i in range(len(h.times))]
                le_text = "+Inf" if le == math.inf else repr(float(le))
                yield f"{hist}_bucket", _labels(**labels, le=le_text), _cumulative(per_step)
            count = [sum(p[1][i] for p in parts) for i in range(len(h.times))]
            seconds = [sum(p[0] * p[1][i] for p in parts) for i in range(len(h.times))]
            yield f"{hist}_count", _labels(**labels), _cumulative(count)
            yield f"{hist}_sum", _labels(**labels), [round(v, 3) for v in _running(seconds)]
            yield counter, _labels(**base, **counter_where, status=status), _cumulative(count)
    pbase = {"job": jobs["predictor"], "instance": INSTANCE}
    yield PREDICTOR_FEEDBACK.name, _labels(**pbase), _cumulative(h.feedback)
    yield PREDICTOR_FEEDBACK_CORRECT.name, _labels(**pbase), _cumulative(h.correct)
    yield MODEL_LAST_TRAINED.name, _labels(**pbase), h.trained
    for service, success in h.probe.items():
        probe = {"job": JOBS[f"blackbox-{service}"], "instance": INSTANCE}
        yield "probe_success", _labels(**probe), success


GAUGES = frozenset({"probe_success", MODEL_LAST_TRAINED.name})


def _running(values: list[float]) -> list[float]:
    out, acc = [], 0.0
    for v in values:
        acc += v
        out.append(acc)
    return out


def write_openmetrics(h: History, folder: Path) -> dict[str, Path]:
    """One OpenMetrics file per UTC day (families typed ``unknown``, samples in time order)."""
    from slolab.slo import synthetic  # the toolkit: when needed

    folder.mkdir(parents=True, exist_ok=True)
    series = list(_series(h))
    days: dict[str, list[int]] = {}
    for i, t in enumerate(h.times):
        days.setdefault(datetime.fromtimestamp(t, UTC).date().isoformat(), []).append(i)
    paths = {}
    for day, idx in days.items():
        grid = [i for i in idx if h.on_grid[i]]
        rows = (
            (name, labels, [h.times[i] for i in steps], [values[i] for i in steps])
            for name, labels, values in series
            for steps in [grid if name in GAUGES else idx]
        )
        paths[day] = synthetic.write_openmetrics(folder / f"history-{day}.om", rows)
    return paths


def build(
    length: timedelta,
    data_dir: Path,
    rule_files: Sequence[Path],
    slo_file: Path,
    tools: Tools,
) -> float:
    """Replace ``data_dir`` with ``length`` of generated past ending now; return its end.

    Raw series and the recording rules of ``rule_files`` over them, as TSDB
    blocks a Prometheus started on ``data_dir`` reads (native lab, or copied
    into the compose volume).
    """
    from slolab.lab import backfill
    from slolab.slo import load

    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.rmtree(tools.work, ignore_errors=True)
    end = time.time()
    past = generate(end, length)
    files = write_openmetrics(past, tools.work / "openmetrics")
    tools.echo(f"lab: history: {length.days}d generated ({len(past.incidents)} past incidents), "
               f"replacing {data_dir}")  # fmt: skip
    backfill.backfill(
        files, data_dir, rule_files, backfill.wanted_series(load(slo_file)),
        past.times[0], past.end, tools,
    )  # fmt: skip
    shutil.rmtree(tools.work / "openmetrics", ignore_errors=True)
    return end
