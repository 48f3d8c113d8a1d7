"""PromQL for the SLOs: the one module that writes it.

Plain functions from the model (:mod:`slolab.slo.model`) to expression text;
the generators, the query layer, the reports, the dashboards and the web view
call them. A window is a :class:`~datetime.timedelta` (written the Prometheus
way, ``1h30m``) or Prometheus duration text, used as given.

SLI events over any window, from the raw series:

- :func:`good_events`, :func:`total_events`: counts (``increase``, samples);
- :func:`error_ratio`: bad / all, ``rate`` (recorded windows) or ``increase``;
- :func:`event_rates`: (all, bad) events per second (the 5m aggregates);
- :func:`raw_error_ratio`: a sample SLI's ratio without its recorded series;
- :func:`raw_counts`, :func:`good_ratio`: (good, total) and the SLI over any
  window and any history (backfilled too); :func:`latency_quantile`;
- :func:`good_sample`: the 0/1 expression recorded for gauge SLIs (freshness,
  threshold, cpu, memory); :func:`sample_series`: the 0/1 series windows read;
- :func:`bucket_selector`, :func:`count_selector`, :func:`selectors`: the
  series an SLI reads; :func:`histogram_buckets`: all of a histogram's buckets;
  :func:`le_matcher`: a bucket boundary in both spellings.

An SLO's recorded series and alert windows:

- :func:`slo_matchers`, :func:`recorded`, :func:`last_recorded`,
  :func:`mean_over_period`: the recorded series;
- :func:`aggregate_ratio`, :func:`window_ratio`, :func:`window_events`:
  error ratio and events of one alert window (recorded, or from the aggregates);
  :func:`aggregate_sums`: several SLOs' summed aggregates in one query;
- :func:`period_ratio`: the period error ratio the period rule records;
- :func:`adjustment_on`, :func:`adjusted`: 1 while planned work runs, else 0;
- :func:`firing_alerts`, :func:`firing_times`, :func:`firing_starts`: what the
  alerts did, from Prometheus' ``ALERTS`` series.

Building blocks for any counter or histogram (the service dashboards):
:func:`rate`, :func:`sum_rate`, :func:`sum_increase`, :func:`quantile`, :func:`per`.

The generated rules of one SLO (:mod:`slolab.slo.generate` adds names, labels
and the rules shared by a service's SLOs):

- :func:`events_aggregate`: the 5m aggregates; :func:`since_last_aggregate`:
  the raw events the period ratio adds to them;
- :func:`burn_rate`, :func:`burn_pair`, :func:`burn_condition`,
  :func:`alert_expr`: the burn-rate alerts, window pair by window pair.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from slolab.slo import conventions as c
from slolab.slo.durations import format_duration, parse_duration
from slolab.slo.model import (
    SLI,
    SLO,
    Adjustment,
    AlertPolicy,
    BurnCondition,
    LatencySLI,
    RatioSLI,
    SampleSLI,
    SLIKind,
    number,
)

__all__ = [
    "AND_SAME_SLO",
    "adjusted",
    "adjustment_on",
    "aggregate_ratio",
    "aggregate_sums",
    "alert_expr",
    "bucket_selector",
    "burn_condition",
    "burn_pair",
    "burn_rate",
    "count_selector",
    "duration",
    "error_ratio",
    "event_rates",
    "events_aggregate",
    "firing_alerts",
    "firing_starts",
    "firing_times",
    "good_events",
    "good_ratio",
    "good_sample",
    "guarded_ratio",
    "histogram_buckets",
    "last_recorded",
    "latency_quantile",
    "le_matcher",
    "mean_over_period",
    "per",
    "period_burn",
    "period_coverage",
    "period_ratio",
    "period_recorded",
    "quantile",
    "rate",
    "raw_counts",
    "raw_error_ratio",
    "recorded",
    "sample_series",
    "selectors",
    "since_last_aggregate",
    "slo_matchers",
    "sum_increase",
    "sum_rate",
    "total_events",
    "window_events",
    "window_matchers",
    "window_ratio",
]

Window = timedelta | str

# Zero traffic: a 0 denominator would give NaN (0/0). No events means no budget
# spent, so the ratio is 0 — but only while the total series exist: with a
# broken selector the sum is empty and the SLI shows as "no data", never 100%.
_DENOMINATOR_FLOOR = "1e-12"


def duration(window: Window) -> str:
    """A window as PromQL writes it: ``timedelta(hours=1, minutes=30)`` -> ``1h30m``."""
    return window if isinstance(window, str) else format_duration(window)


def _sum(func: str, selector: str, window: Window) -> str:
    return f"sum({func}({selector}[{duration(window)}]))"


def guarded_ratio(bad: str, total: str) -> str:
    """``bad / total`` that is 0, not NaN, when ``total`` is 0 (no traffic)."""
    return f"({bad}) / clamp_min({total}, {_DENOMINATOR_FLOOR})"


# --- the series an SLI reads ---------------------------------------------------------


def le_matcher(value: float) -> str:
    """Regex matching a bucket boundary as Prometheus 2 and 3 write it.

    Prometheus 3 normalises ``le`` to float formatting (``1`` becomes ``1.0``)
    and Python clients already write ``1.0``; Go clients write ``1``.
    ``[.]`` avoids backslashes that YAML and PromQL strings would both escape.
    """
    text = number(value)
    if "e" in text:
        raise ValueError(f"bucket boundary {value!r} needs a plain decimal form")
    if "." in text:
        return f"{text.replace('.', '[.]')}0*"
    return f"{text}([.]0+)?"


def _histogram_series(sli: LatencySLI, suffix: str, extra: str = "") -> str:
    parts = ", ".join(p for p in (sli.matchers, extra) if p)
    return f"{sli.histogram}_{suffix}{{{parts}}}"


def histogram_buckets(sli: LatencySLI) -> str:
    """Every bucket of the histogram, e.g. ``x_bucket{job="a"}``."""
    return _histogram_series(sli, "bucket")


def bucket_selector(sli: LatencySLI) -> str:
    """The threshold bucket, e.g. ``x_bucket{job="a", le=~"0[.]50*"}``."""
    return _histogram_series(sli, "bucket", f'le=~"{le_matcher(sli.threshold_seconds)}"')


def count_selector(sli: LatencySLI) -> str:
    """The histogram's request count, e.g. ``x_count{job="a"}``."""
    return _histogram_series(sli, "count")


def selectors(sli: SLI) -> tuple[str, ...]:
    """The series selectors an SLI reads (none for a gauge expression it records)."""
    if isinstance(sli, RatioSLI):
        return tuple(s for s in (sli.errors, sli.good, sli.total) if s is not None)
    if isinstance(sli, LatencySLI):
        return (bucket_selector(sli), count_selector(sli))
    return (sli.source,) if sli.kind is SLIKind.PROBE else ()


def good_sample(sli: SampleSLI) -> str | None:
    """The 0/1 expression a gauge SLI records every evaluation (None for a probe)."""
    limit = number(sli.limit)
    match sli.kind:
        case SLIKind.FRESHNESS:
            return f"time() - {sli.source} < bool {limit}"
        case SLIKind.CPU:
            assert sli.rate_window is not None  # the model sets it for every cpu SLI
            return f"{sum_rate(sli.source, sli.rate_window)} < bool {limit}"
        case SLIKind.MEMORY:
            return f"sum({sli.source}) < bool {limit}"
        case SLIKind.THRESHOLD:
            return f"({sli.source}) {sli.op} bool {limit}"
    return None


def sample_series(slo: SLO) -> str:
    """The 0/1 series a sample SLI's windows read: the probe's, or the recorded one."""
    assert isinstance(slo.sli, SampleSLI)
    if slo.sli.kind is SLIKind.PROBE:
        return slo.sli.source
    return f'{c.RULE_GOOD_SAMPLE}{{{c.LABEL_SLO}="{slo.name}"}}'


# --- SLI events over any window, from the raw series -------------------------------------


def _latency_total(sli: LatencySLI, func: str, window: Window) -> str:
    # Only instances that export the threshold bucket: one without it (an old
    # bucket list mid-rollout) would otherwise count every request as slow.
    w = duration(window)
    return (
        f"sum({func}({count_selector(sli)}[{w}]) "
        f"and ignoring(le) {func}({bucket_selector(sli)}[{w}]))"
    )


def good_events(slo: SLO, window: Window) -> str:
    """The number of good events (or samples) over ``window``."""
    sli = slo.sli
    if isinstance(sli, RatioSLI):
        if sli.good is not None:
            return f"({_sum('increase', sli.good, window)} or vector(0))"
        total = _sum("increase", sli.total, window)
        return f"({total} - ({_sum('increase', sli.errors or '', window)} or vector(0)))"
    if isinstance(sli, LatencySLI):
        return _sum("increase", bucket_selector(sli), window)
    return _sum("sum_over_time", sample_series(slo), window)


def total_events(slo: SLO, window: Window) -> str:
    """The number of events (or samples) over ``window``."""
    sli = slo.sli
    if isinstance(sli, RatioSLI):
        return _sum("increase", sli.total, window)
    if isinstance(sli, LatencySLI):
        return _latency_total(sli, "increase", window)
    return _sum("count_over_time", sample_series(slo), window)


def error_ratio(slo: SLO, window: Window, func: str = "rate") -> str:
    """The error ratio over ``window`` from the raw series, traffic-weighted.

    ``func``: ``rate`` (the recorded windows) or ``increase`` (any window, e.g.
    the whole period); sample SLIs read samples either way.
    """
    sli = slo.sli
    if isinstance(sli, RatioSLI):
        total = _sum(func, sli.total, window)
        if sli.errors is not None:
            # A never-seen error series (no 5xx yet) does not exist: count it as 0.
            bad = f"{_sum(func, sli.errors, window)} or vector(0)"
        else:
            bad = f"{total} - ({_sum(func, sli.good or '', window)} or vector(0))"
        return guarded_ratio(bad, total)
    if isinstance(sli, LatencySLI):
        total = _latency_total(sli, func, window)
        good = _sum(func, bucket_selector(sli), window)
        # No "or vector(0)" on the buckets: a bucket that matches nothing is a broken
        # selector and must show as no data, not as 100% slow.
        return guarded_ratio(f"{total} - {good}", total)
    # count_over_time is >= 1 whenever the sum exists: no 0/0 here.
    return f"1 - {good_events(slo, window)} / {total_events(slo, window)}"


def event_rates(slo: SLO, window: Window) -> tuple[str, str]:
    """(all events, bad events) per second over ``window`` (samples: samples per second)."""
    sli = slo.sli
    if isinstance(sli, RatioSLI):
        total = _sum("rate", sli.total, window)
        if sli.errors is not None:
            return total, f"({_sum('rate', sli.errors, window)} or vector(0))"
        return total, f"{total} - ({_sum('rate', sli.good or '', window)} or vector(0))"
    if isinstance(sli, LatencySLI):
        total = _latency_total(sli, "rate", window)
        return total, f"{total} - {_sum('rate', bucket_selector(sli), window)}"
    seconds = number(_seconds(window))
    total = f"{total_events(slo, window)} / {seconds}"
    return total, f"({total_events(slo, window)} - {good_events(slo, window)}) / {seconds}"


def raw_error_ratio(slo: SLO, window: Window, step: str = "30s") -> str:
    """A sample SLI's ratio without the recorded series (a subquery; e.g. backfilled data)."""
    assert isinstance(slo.sli, SampleSLI)
    expr = good_sample(slo.sli)
    if expr is None:
        return error_ratio(slo, window)
    return f"1 - avg_over_time(({expr})[{duration(window)}:{step}])"


def raw_counts(slo: SLO, window: Window) -> tuple[str, str]:
    """(good, total) events over ``window`` from the raw series, for any history.

    Gauge SLIs (freshness) re-evaluate their condition in a subquery instead of
    reading the recorded 0/1 series, so history before the rules were loaded (or
    backfilled) counts too.
    """
    expr = good_sample(slo.sli) if isinstance(slo.sli, SampleSLI) else None
    if expr is not None:
        sub = f"({expr})[{duration(window)}:]"
        return f"sum(sum_over_time({sub}))", f"sum(count_over_time({sub}))"
    return good_events(slo, window), total_events(slo, window)


def good_ratio(slo: SLO, window: Window) -> str:
    """The SLI (good ratio) over ``window`` from the raw series, traffic-weighted."""
    if isinstance(slo.sli, SampleSLI):
        return f"1 - ({raw_error_ratio(slo, window)})"
    return f"1 - ({error_ratio(slo, window, func='increase')})"


def latency_quantile(sli: LatencySLI, quantile: float, window: Window) -> str:
    """The ``quantile`` latency (seconds) of a latency SLI's histogram over ``window``."""
    matchers = f"{{{sli.matchers}}}" if sli.matchers else ""
    return (
        f"histogram_quantile({quantile:g}, "
        f"sum by (le) (rate({sli.histogram}_bucket{matchers}[{duration(window)}])))"
    )


def _timedelta(window: Window) -> timedelta:
    return parse_duration(window) if isinstance(window, str) else window


def _seconds(window: Window) -> float:
    return _timedelta(window).total_seconds()


# --- an SLO's recorded series and alert windows ---------------------------------------


def slo_matchers(slo: SLO) -> str:
    """Matchers selecting an SLO's recorded series, e.g. ``{slo="x",service="y"}``."""
    return f'{{{c.LABEL_SLO}="{slo.name}",{c.LABEL_SERVICE}="{slo.service}"}}'


def recorded(slo: SLO, rule: str) -> str:
    """Selector of one of an SLO's recorded series, e.g. ``slo:objective:ratio{...}``."""
    return f"{rule}{slo_matchers(slo)}"


def window_matchers(slo: SLO, period: timedelta | None = None) -> str:
    """:func:`slo_matchers` narrowed to one period's figures (None: the first period).

    The same as ``slo_matchers`` for an SLO of one period: its series have no
    ``slo_window`` label. With several periods the first one's are those without it
    (``slo_window=""``), a further one's ``slo_window="7d"``.
    """
    if not slo.extra_periods:
        return slo_matchers(slo)
    value = "" if period in (None, slo.period) else duration(period)
    return f'{slo_matchers(slo)[:-1]},{c.LABEL_WINDOW}="{value}"}}'


def period_recorded(slo: SLO, rule: str, period: timedelta | None = None) -> str:
    """Selector of one of an SLO's period figures over one of its periods (None: the first)."""
    return f"{rule}{window_matchers(slo, period)}"


def last_recorded(slo: SLO, rule: str, window: Window, period: timedelta | None = None) -> str:
    """The last value of a period figure within each ``window`` (sparse history too),
    over one of the SLO's periods (None: the first)."""
    return f"last_over_time({period_recorded(slo, rule, period)}[{duration(window)}])"


def mean_over_period(slo: SLO, rule: str) -> str:
    """The mean of a recorded series over the SLO's period (Sloth's period ratio)."""
    selector = f"{recorded(slo, rule)}[{duration(slo.period)}]"
    return f"sum_over_time({selector}) / count_over_time({selector})"


def _events_matchers(slo: SLO) -> str:
    return f'{c.LABEL_SLO}="{slo.name}",{c.LABEL_SERVICE}="{slo.service}",{c.LABEL_EVENTS}='


def aggregate_ratio(slo: SLO, window: Window, plus: tuple[str, str] | None = None) -> str:
    """Traffic-weighted error ratio over ``window`` from the recorded aggregates.

    A ratio of sums (never an average of ratios); ``sum by (slo, service)``
    also joins the history of series whose labels changed (a label edited in
    slos.yaml) and keeps the labels the alerts match windows on. ``plus``:
    (bad, all) events not aggregated yet, label-less and in the aggregates'
    unit, added to both sums (absent counts as none).
    """
    matchers, w = _events_matchers(slo), duration(window)
    by = f"sum by ({c.LABEL_SLO}, {c.LABEL_SERVICE})"
    bad, total = (
        f'{by} (sum_over_time({c.RULE_EVENTS_AGGREGATE}{{{matchers}"{kind}"}}[{w}]))'
        for kind in (c.EVENTS_ERRORS, c.EVENTS_TOTAL)
    )
    if plus is not None:
        bad, total = (
            f"{s} + on() group_left() ({p} or vector(0))"
            for s, p in zip((bad, total), plus, strict=True)
        )
    return guarded_ratio(bad, total)


def aggregate_sums(slos: Iterable[SLO], window: Window) -> str:
    """Bad and all events of each of ``slos`` over ``window``, by ``slo`` and ``events``."""
    names = "|".join(sorted({s.name for s in slos}))
    return (
        f"sum by ({c.LABEL_SLO}, {c.LABEL_EVENTS}) (sum_over_time("
        f'{c.RULE_EVENTS_AGGREGATE}{{{c.LABEL_SLO}=~"{names}"}}[{duration(window)}]))'
    )


def window_events(slo: SLO, window: Window) -> str:
    """The number of events over one alert window (label-less).

    Raw counters for the windows recorded from them; the aggregates (events per
    second, one sample per AGGREGATE_INTERVAL) for the day-long ones, as
    :func:`window_ratio` does, so a 3-day count never reads raw samples.
    """
    if not slo.from_aggregates(_timedelta(window)):
        return total_events(slo, window)
    matchers = f'{_events_matchers(slo)}"{c.EVENTS_TOTAL}"'
    seconds = number(parse_duration(c.AGGREGATE_WINDOW).total_seconds())
    return (
        f"sum(sum_over_time({c.RULE_EVENTS_AGGREGATE}{{{matchers}}}[{duration(window)}]))"
        f" * {seconds}"
    )


def window_ratio(slo: SLO, window: Window) -> str:
    """The error ratio over one alert window: recorded, or from the aggregates."""
    if slo.from_aggregates(_timedelta(window)):
        return aggregate_ratio(slo, window)
    return recorded(slo, c.error_ratio_rule(_timedelta(window)))


def period_ratio(slo: SLO, period: timedelta | None = None) -> str:
    """The error ratio over ``period`` (None: the SLO's first): the summed aggregates
    and the events since the last one."""
    window = number(parse_duration(c.AGGREGATE_WINDOW).total_seconds())
    since = tuple(
        f'sum({c.RULE_EVENTS_SINCE_AGGREGATE}{{{_events_matchers(slo)}"{kind}"}}) / {window}'
        for kind in (c.EVENTS_ERRORS, c.EVENTS_TOTAL)
    )
    span = slo.period if period is None else period
    return aggregate_ratio(slo, span, plus=(since[0], since[1])) + "\n"


def period_coverage(slo: SLO, period: timedelta) -> str:
    """Seconds of history one of the SLO's further periods covers (capped at it).

    As the service's shared coverage rule does for the first period: from the
    oldest aggregate within the period (each covers the window before it).
    """
    window = number(parse_duration(c.AGGREGATE_WINDOW).total_seconds())
    oldest = f"min_over_time({recorded(slo, c.RULE_AGGREGATED_AT)}[{duration(period)}])"
    return f"clamp_max(time() - {oldest} + {window}, {number(period.total_seconds())})"


def period_burn(slo: SLO, period: timedelta) -> str:
    """The burn rate over one of the SLO's further periods, from its recorded ratio."""
    return f"{period_recorded(slo, c.RULE_ERROR_RATIO_PERIOD, period)} / {number(slo.error_budget)}"


# --- budget adjustments (planned work) ------------------------------------------------


def adjustment_on(adjustment: Adjustment, lookback: timedelta = timedelta(0)) -> str:
    """1 while ``(now - lookback, now]`` overlaps the adjustment's window, else 0.

    Computed from ``time()``: exact at any evaluation, with no series to wait for.
    """
    start = number(adjustment.start.timestamp())
    reach = adjustment.length + lookback  # the window, widened by the lookback
    if adjustment.every is None:
        end = number((adjustment.start + reach).timestamp())
        return f"(time() >= bool {start}) * (time() < bool {end})"
    if reach >= adjustment.every:
        return f"(time() >= bool {start})"
    every, reach_s = number(adjustment.every.total_seconds()), number(reach.total_seconds())
    return f"(time() >= bool {start}) * ((time() - {start}) % {every} < bool {reach_s})"


def adjusted(adjustments: Iterable[Adjustment], lookback: timedelta = timedelta(0)) -> str:
    """A vector: 1 while any of ``adjustments`` overlaps the lookback, else 0."""
    parts = [adjustment_on(a, lookback) for a in adjustments]
    joined = " + ".join(parts)
    return f"vector(clamp_max({joined}, 1))" if len(parts) > 1 else f"vector({joined})"


# --- building blocks (alerts' history, the service dashboards) ------------------------


def firing_alerts(*matchers: str, window: Window | None = None) -> str:
    """Prometheus' ``ALERTS`` series of firing alerts, e.g. ``ALERTS{alertstate="firing"}``.

    ``matchers`` narrow it (``'slo="api"'``); ``window`` makes it a range selector.
    """
    selector = "ALERTS{" + ", ".join(('alertstate="firing"', *matchers)) + "}"
    return selector if window is None else f"{selector}[{duration(window)}]"


def firing_times(alert: str, slo: SLO, func: str, subquery: str) -> str:
    """``func`` (``min_over_time``...) of the times ``alert`` fired for ``slo``, over a subquery.

    ``subquery`` is its range and resolution, e.g. ``3600s:30s``.
    """
    selector = firing_alerts(f'alertname="{alert}"', f'{c.LABEL_SLO}="{slo.name}"')
    return f"{func}(timestamp({selector})[{subquery}])"


def firing_starts(alert: str, slo: SLO, subquery: str, step: str) -> str:
    """How often ``alert`` began firing for ``slo`` (firing now, not one ``step`` before)."""
    selector = firing_alerts(f'alertname="{alert}"', f'{c.LABEL_SLO}="{slo.name}"')
    return f"count_over_time(({selector} unless {selector} offset {step})[{subquery}])"


def rate(selector: str, window: Window) -> str:
    """Per-second rate of each counter series ``selector`` selects."""
    return f"rate({selector}[{duration(window)}])"


def sum_rate(selector: str, window: Window, by: str = "") -> str:
    """Per-second rate of the counters, summed (``by`` some labels, e.g. ``status``)."""
    grouping = f"sum by ({by}) " if by else "sum"
    return f"{grouping}({rate(selector, window)})"


def sum_increase(selector: str, window: Window) -> str:
    """How much the counters grew over ``window``, summed."""
    return _sum("increase", selector, window)


def quantile(q: float, buckets: str, window: Window, by: str = "") -> str:
    """The ``q`` quantile of a histogram from its bucket selector (``by`` some labels)."""
    group = ", ".join(p for p in ("le", by) if p)
    return f"histogram_quantile({q}, sum by ({group}) ({rate(buckets, window)}))"


def per(total: str, count: str) -> str:
    """``total / count``, 0 (not NaN) without events: e.g. mean seconds per request."""
    return f"{total} / clamp_min({count}, {_DENOMINATOR_FLOOR})"


# --- the generated rules of one SLO ---------------------------------------------------

# Windows from the aggregates carry only slo and service (see aggregate_ratio).
AND_SAME_SLO = f"and on({c.LABEL_SLO}, {c.LABEL_SERVICE})"


def events_aggregate(slo: SLO) -> str:
    """Both event rates over AGGREGATE_WINDOW, told apart by ``events`` (one rule per SLO)."""
    total, bad = event_rates(slo, c.AGGREGATE_WINDOW)
    expr = (
        f'label_replace({total}, "{c.LABEL_EVENTS}", "{c.EVENTS_TOTAL}", "", "")\n'
        f'or\nlabel_replace({bad}, "{c.LABEL_EVENTS}", "{c.EVENTS_ERRORS}", "", "")\n'
    )
    if slo.adjustments:
        # A stretch that overlaps planned work records nothing: its events count
        # neither good nor bad, like time Prometheus was down (docs/slo-spec.md).
        window = parse_duration(c.AGGREGATE_WINDOW)
        expr = f"(\n{expr}) unless on() ({adjusted(slo.adjustments, window)} == 1)\n"
    return expr


def since_last_aggregate(slo: SLO) -> tuple[str, str]:
    """(bad, all) events since the last aggregate, from the raw series (label-less).

    The period group runs every SLOW_INTERVAL, so this stretch (its age) is 0 to
    AGGREGATE_INTERVAL long: the rate over the whole intervals it spans (at least
    one), times its age. Exact when the two groups' evaluations line up; else its
    first seconds count at the rate of the minutes after them. An aggregate not
    recorded yet at the same instant (the groups racing) leaves the full window.
    Raw samples are read over one aggregate interval at most, whatever the period.
    """
    step = parse_duration(c.SLOW_INTERVAL).total_seconds()
    window = parse_duration(c.AGGREGATE_WINDOW).total_seconds()
    lookback = format_duration(timedelta(seconds=window + step))
    age = f"(time() - max(max_over_time({recorded(slo, c.RULE_AGGREGATED_AT)}[{lookback}])))"
    count = round(window / step)
    total: list[str] = []
    bad: list[str] = []
    for k in range(1, count + 1):
        low = f" >= {number(k * step)}" if k > 1 else ""
        high = f" < {number((k + 1) * step)}" if k < count else ""
        span_total, span_bad = event_rates(slo, timedelta(seconds=k * step))
        total.append(f"({span_total}) and on() {age}{low}{high}")
        bad.append(f"({span_bad}) and on() {age}{low}{high}")
    scaled = f"\n) * on() {age}"
    if slo.adjustments:
        # Planned work in the last aggregate window: the stretch counts nothing, as
        # the aggregate that will hold it (see events_aggregate).
        planned = adjusted(slo.adjustments, timedelta(seconds=window))
        scaled += f"\nunless on() ({planned} == 1)"
    bad_text, total_text = ("(\n  " + "\n  or ".join(part) + scaled for part in (bad, total))
    return bad_text, total_text


def burn_rate(slo: SLO, window: Window) -> str:
    """The burn rate over one alert window: its error ratio / the error budget."""
    ratio = window_ratio(slo, window)
    if slo.from_aggregates(_timedelta(window)):
        ratio = f"({ratio})"
    return f"{ratio} / {number(slo.error_budget)}"


def burn_pair(slo: SLO, cond: BurnCondition) -> tuple[str, str]:
    """(short window, long window) each burning faster than the condition's factor."""
    factor = number(cond.factor)
    return f"{burn_rate(slo, cond.short)} > {factor}", f"{burn_rate(slo, cond.long)} > {factor}"


def burn_condition(slo: SLO, cond: BurnCondition) -> str:
    """One multi-window condition, with the SLO's event minimum and adjustments."""
    # Short window first: the alert's value is then the recent burn rate.
    short, long = burn_pair(slo, cond)
    parts = [short, AND_SAME_SLO, long]
    if slo.min_events is not None:
        # Low traffic: the long window must hold min_events events (a label-less
        # count, hence on()), or one failed request of a handful would page.
        parts += ["and on()", f"{window_events(slo, cond.long)} >= {slo.min_events}"]
    if slo.adjustments:
        # Planned work: no page while it runs, nor until the short window is past
        # it; after that the short window sees only what happens now.
        parts += ["unless on()", f"{adjusted(slo.adjustments, cond.short)} == 1"]
    return "(\n" + "".join(f"  {p}\n" for p in parts) + ")"


def alert_expr(slo: SLO, policy: AlertPolicy) -> str:
    """A burn-rate alert's expression: any condition of the policy (an OR of window pairs)."""
    return "\nor\n".join(burn_condition(slo, cond) for cond in policy.conditions) + "\n"
