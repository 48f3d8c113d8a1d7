"""The model: plain typed data built from the wire format (no PromQL, no I/O)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from slolab.slo.model import (
    SLO,
    Adjustment,
    LatencySLI,
    RatioSLI,
    Review,
    SampleSLI,
    Severity,
    SLIKind,
    from_spec,
    scale_window,
)
from slolab.slo.spec import parse_spec

SPEC = """\
version: 1
slos:
  - name: {name}
    service: web
    description: d
    owner: team
    sli:
      {sli}
    objective: 99.9
    period: {period}
    review: {{cadence: 30d, last_review: 2026-01-15, scheduled: 2026-02-01}}
"""
SLIS = {
    SLIKind.RATIO: "ratio: {errors: 'e_total{code=\"500\"}', total: e_total}",
    SLIKind.LATENCY: "latency: {histogram: h_seconds, threshold_seconds: 0.5}",
    SLIKind.PROBE: "probe: {selector: 'probe_success{job=\"x\"}'}",
    SLIKind.FRESHNESS: "freshness: {timestamp: trained_seconds, max_age_seconds: 3600}",
    SLIKind.THRESHOLD: "threshold: {expr: 'queue_depth', op: '>=', value: 2}",
    SLIKind.CPU: "cpu: {selector: cpu_seconds_total, max_cores: 0.5, rate_window: 2m}",
    SLIKind.MEMORY: "memory: {selector: rss_bytes, max_bytes: 1e9}",
}


def _one(sli: str, period: str = "30d", name: str = "web-slo") -> SLO:
    (slo,) = from_spec(parse_spec(SPEC.format(name=name, sli=sli, period=period)))
    return slo


@pytest.mark.parametrize("kind", list(SLIKind))
def test_the_kind_comes_from_the_spec_block_not_the_name(kind: SLIKind) -> None:
    # a name that says "latency" whatever the SLI is
    slo = _one(SLIS[kind], name="web-latency")
    assert slo.sli.kind is kind
    assert str(slo.sli.kind) == kind.value  # what listings and JSON print


def test_gauge_slis_keep_their_condition_as_data() -> None:
    fresh = _one(SLIS[SLIKind.FRESHNESS]).sli
    assert fresh == SampleSLI(SLIKind.FRESHNESS, "trained_seconds", limit=3600)
    threshold = _one(SLIS[SLIKind.THRESHOLD]).sli
    assert (threshold.source, threshold.op, threshold.limit) == ("queue_depth", ">=", 2)
    cpu = _one(SLIS[SLIKind.CPU]).sli
    assert isinstance(cpu, SampleSLI) and cpu.rate_window == timedelta(minutes=2)
    assert _one(SLIS[SLIKind.MEMORY]).sli.limit == 1e9


def test_request_slis() -> None:
    ratio = _one(SLIS[SLIKind.RATIO]).sli
    assert ratio == RatioSLI(total="e_total", errors='e_total{code="500"}')
    latency = _one(SLIS[SLIKind.LATENCY]).sli
    assert latency == LatencySLI("h_seconds", "", 0.5, None)


def test_periods_and_cadences_are_timedeltas() -> None:
    slo = _one(SLIS[SLIKind.RATIO], period="28d")
    assert slo.period == timedelta(days=28)
    assert slo.review == Review(timedelta(days=30), date(2026, 1, 15), (), date(2026, 2, 1))
    assert slo.review.next_review == date(2026, 2, 1)  # the agreed date wins
    assert dataclasses.replace(slo.review, scheduled=None).next_review == date(2026, 2, 14)
    assert not any(isinstance(v, str) for v in (slo.period, slo.review.cadence))


@pytest.mark.parametrize(
    ("period", "short", "long"),
    [
        ("30d", timedelta(minutes=5), timedelta(days=3)),
        ("28d", timedelta(minutes=5), timedelta(days=2, hours=19, minutes=12)),
        ("7d", timedelta(minutes=1), timedelta(hours=16, minutes=48)),
        ("1d", timedelta(minutes=1), timedelta(hours=2, minutes=24)),
    ],
)
def test_alert_windows_scale_with_the_period(period: str, short: timedelta, long: timedelta):
    slo = _one(SLIS[SLIKind.RATIO], period=period)
    assert (slo.short_window, slo.windows[-1]) == (short, long)
    assert list(slo.windows) == sorted(set(slo.windows))
    # the ticket's day-long windows (in 30-day terms) come from the aggregates
    day = scale_window(timedelta(days=1), slo.period)
    assert slo.recorded_windows == tuple(w for w in slo.windows if w < day)
    assert slo.from_aggregates(day) and not slo.from_aggregates(slo.recorded_windows[-1])


def test_burn_conditions_pair_timedeltas() -> None:
    page, ticket = _one(SLIS[SLIKind.RATIO]).alert_policies
    first = page.conditions[0]
    assert (first.long, first.short, first.factor) == (
        timedelta(hours=1),
        timedelta(minutes=5),
        14.4,
    )
    assert [c.factor for c in ticket.conditions] == [3, 1]
    assert (page.severity, ticket.severity) == (Severity.PAGE, Severity.TICKET)
    assert (str(page.severity), str(ticket.severity)) == ("critical", "warning")  # the label


def test_numbers_are_rounded_once() -> None:
    slo = _one(SLIS[SLIKind.RATIO])
    assert (slo.objective, slo.error_budget, slo.objective_percent) == (0.999, 0.001, 99.9)
    assert slo.rule_labels == {"slo": "web-slo", "service": "web"}


def test_the_model_is_frozen() -> None:
    slo = _one(SLIS[SLIKind.RATIO])
    with pytest.raises(dataclasses.FrozenInstanceError):
        slo.objective = 0.5  # type: ignore[misc]


def test_adjustment_occurrences_in_a_span() -> None:
    start = datetime(2026, 12, 8, 2, tzinfo=UTC)
    weekly = Adjustment("deploy", "r", start, timedelta(hours=1), timedelta(days=7))
    got = weekly.windows(start + timedelta(days=6), start + timedelta(days=15))
    assert got == [
        (start + timedelta(days=7), start + timedelta(days=7, hours=1)),
        (start + timedelta(days=14), start + timedelta(days=14, hours=1)),
    ]
