"""What each fault of the demo does to each SLO: a timeline of error ratios per SLO.

``predict`` needs, offline, the share of each SLO's events a scenario makes bad
at every moment. It comes from the fault catalogue (slolab/contract.py) and the
services' code, first order only:

- ``error_rate`` x: x of the service's API requests answer 500: its
  availability SLIs (ratio SLIs with an ``errors`` selector) and its probe see x.
- ``store_outage``: every tasks API request is a 503: availability and probe 1.
- ``latency_ms`` L: every API request of the service is L slower: its latency
  SLIs see 1 when L is over their threshold, else 0 (a delay alone does not
  fail requests); its probe fails once L reaches the probe's 5 s timeout.
- ``model_drift``: every prediction is wrong: the accuracy SLI (it counts
  ``predictor_feedback_correct_total``) sees 1.
- ``stale_model``: the freshness gauge reports a model 2 h old: freshness 1.
- ``predictor_unreachable``: tasks stores tasks without an estimate: no SLO
  sees an error (graceful degradation).

A load phase's ``assume`` adds what offline cannot know (no capacity model): the
error ratio a surge causes. Effects on one SLO combine as independent failures.
A live run measures the real effect; the scorecard shows both.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta

from slolab.contract import PREDICTOR_FEEDBACK_CORRECT
from slolab.scenario.spec import FaultStep, Scenario
from slolab.slo.model import SLO, LatencySLI, RatioSLI, SampleSLI
from slolab.slo.timeline import Segment

__all__ = ["error_ratio", "segments"]

_ACCURACY_METRIC = PREDICTOR_FEEDBACK_CORRECT.name
_PROBE_TIMEOUT_MS = 5000  # blackbox/blackbox.yml: a slower answer fails the probe


def _kind(slo: SLO) -> str:
    sli = slo.sli
    if isinstance(sli, LatencySLI):
        return "latency"
    if isinstance(sli, SampleSLI):
        return sli.kind  # probe, freshness, threshold, ...
    if isinstance(sli, RatioSLI) and sli.good is not None and _ACCURACY_METRIC in sli.good:
        return "accuracy"
    return "availability" if isinstance(sli, RatioSLI) and sli.errors is not None else "other"


def error_ratio(slo: SLO, fault: str, value: float | bool) -> float:
    """The share of ``slo``'s events one fault setting on the SLO's own service makes bad."""
    kind = _kind(slo)
    if fault == "error_rate" and kind in ("availability", "probe"):
        return float(value)
    if fault == "store_outage" and kind in ("availability", "probe"):
        return 1.0
    if fault == "latency_ms" and kind == "probe":
        return 1.0 if float(value) >= _PROBE_TIMEOUT_MS else 0.0
    if fault == "latency_ms" and isinstance(slo.sli, LatencySLI):
        return 1.0 if float(value) / 1000 > slo.sli.threshold_seconds else 0.0
    if fault == "model_drift" and kind == "accuracy":
        return 1.0
    if fault == "stale_model" and kind == "freshness":
        return 1.0
    return 0.0


def _at(slo: SLO, scenario: Scenario, faults: Sequence[FaultStep], t: timedelta) -> float:
    good = 1.0
    for f in faults:
        if f.service == slo.service and f.start <= t < f.end:
            for name, value in f.settings.items():
                good *= 1 - error_ratio(slo, name, value)
    phase = [p for p in scenario.load if p.start <= t][-1]
    good *= 1 - phase.assume.get(slo.name, 0.0)
    return 1 - good


def segments(slo: SLO, scenario: Scenario) -> list[Segment]:
    """The scenario's error ratio for ``slo``, piecewise constant (zero pieces left out)."""
    edges = {timedelta(0), scenario.duration}
    edges |= {p.start for p in scenario.load}
    for f in scenario.faults:
        edges |= {f.start, f.end}
    cuts = sorted(e for e in edges if e <= scenario.duration)
    out: list[Segment] = []
    for a, b in itertools.pairwise(cuts):
        ratio = _at(slo, scenario, scenario.faults, a)
        if ratio <= 0:
            continue
        if out and out[-1].end == a and out[-1].ratio == ratio:
            out[-1] = Segment(out[-1].start, b, ratio)
        else:
            out.append(Segment(a, b, ratio))
    return out
