"""The literal PromQL of each SLI kind and window kind (Pyrra's table tests).

Every expected expression is written out here, so a change to what slolab
writes shows in review as the one expression that changed. Behaviour (alerts
fire when they should) is held elsewhere: promtool (test_rules.py) and the
simulator. Periods are rolling (spec.PERIODS); slolab has no calendar windows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import promql_parser
import pytest

from slolab.slo import promql
from slolab.slo.model import SLO, Adjustment, LatencySLI, RatioSLI, Review, SampleSLI, SLIKind


def slo(sli: RatioSLI | LatencySLI | SampleSLI, period: timedelta = timedelta(days=30),
        **extra: object) -> SLO:  # fmt: skip
    return SLO(
        name="api", service="web", description="the API", owner="team", sli=sli,
        objective=0.999, period=period, review=Review(timedelta(days=90), date(2026, 1, 1)),
        labels={}, runbook_url="docs/runbooks.md#api", **extra,  # type: ignore[arg-type]
    )  # fmt: skip


ERRORS = RatioSLI(
    total='http_requests_total{job="api"}', errors='http_requests_total{job="api", code=~"5.."}'
)
GOOD = RatioSLI(total="feedback_total", good="feedback_correct_total")
LATENCY = LatencySLI("http_request_duration_seconds", 'job="api"', 0.25, (0.1, 0.25, 1))
PROBE = SampleSLI(SLIKind.PROBE, 'probe_success{job="blackbox"}')
FRESHNESS = SampleSLI(SLIKind.FRESHNESS, "model_trained_timestamp_seconds", limit=3600)
THRESHOLD = SampleSLI(SLIKind.THRESHOLD, 'queue_depth{job="api"}', op="<=", limit=100)
CPU = SampleSLI(SLIKind.CPU, 'process_cpu_seconds_total{job="api"}', limit=0.8,
                rate_window=timedelta(minutes=1))  # fmt: skip
MEMORY = SampleSLI(SLIKind.MEMORY, 'process_resident_memory_bytes{job="api"}', limit=536870912)
# Weekly planned work, one hour from 2026-12-08 02:00 UTC (1796695200).
ADJ = Adjustment("deploy", "weekly deploy", datetime(2026, 12, 8, 2, tzinfo=UTC),
                 timedelta(hours=1), timedelta(days=7))  # fmt: skip
M5, D7 = timedelta(minutes=5), timedelta(days=7)
ROLLING_30D = slo(ERRORS)
LOW_TRAFFIC = slo(LATENCY, min_events=50)
ADJUSTED_7D = slo(ERRORS, period=D7, adjustments=(ADJ,))

SLI_CASES = [
    pytest.param(
        lambda: promql.error_ratio(slo(ERRORS), M5),
        '(sum(rate(http_requests_total{job="api", code=~"5.."}[5m])) or vector(0)) / '
        'clamp_min(sum(rate(http_requests_total{job="api"}[5m])), 1e-12)',
        id="ratio-errors-rate-5m",
    ),
    pytest.param(
        lambda: promql.error_ratio(slo(ERRORS), timedelta(days=30), func="increase"),
        '(sum(increase(http_requests_total{job="api", code=~"5.."}[30d])) or vector(0)) / '
        'clamp_min(sum(increase(http_requests_total{job="api"}[30d])), 1e-12)',
        id="ratio-errors-increase-30d",
    ),
    pytest.param(
        lambda: promql.good_events(slo(ERRORS), D7),
        '(sum(increase(http_requests_total{job="api"}[7d])) - '
        '(sum(increase(http_requests_total{job="api", code=~"5.."}[7d])) or vector(0)))',
        id="ratio-errors-good-7d",
    ),
    pytest.param(
        lambda: promql.total_events(slo(ERRORS), D7),
        'sum(increase(http_requests_total{job="api"}[7d]))',
        id="ratio-errors-total-7d",
    ),
    pytest.param(
        lambda: promql.event_rates(slo(ERRORS), M5)[1],
        '(sum(rate(http_requests_total{job="api", code=~"5.."}[5m])) or vector(0))',
        id="ratio-errors-bad-per-second",
    ),
    pytest.param(
        lambda: promql.error_ratio(slo(GOOD), M5),
        "(sum(rate(feedback_total[5m])) - (sum(rate(feedback_correct_total[5m])) or vector(0))) / "
        "clamp_min(sum(rate(feedback_total[5m])), 1e-12)",
        id="ratio-good-rate-5m",
    ),
    pytest.param(
        lambda: promql.good_events(slo(GOOD), D7),
        "(sum(increase(feedback_correct_total[7d])) or vector(0))",
        id="ratio-good-good-7d",
    ),
    pytest.param(
        lambda: promql.event_rates(slo(GOOD), M5)[1],
        "sum(rate(feedback_total[5m])) - (sum(rate(feedback_correct_total[5m])) or vector(0))",
        id="ratio-good-bad-per-second",
    ),
    pytest.param(
        lambda: promql.error_ratio(slo(LATENCY), M5),
        '(sum(rate(http_request_duration_seconds_count{job="api"}[5m]) and ignoring(le) '
        'rate(http_request_duration_seconds_bucket{job="api", le=~"0[.]250*"}[5m])) - '
        'sum(rate(http_request_duration_seconds_bucket{job="api", le=~"0[.]250*"}[5m]))) / '
        'clamp_min(sum(rate(http_request_duration_seconds_count{job="api"}[5m]) and ignoring(le) '
        'rate(http_request_duration_seconds_bucket{job="api", le=~"0[.]250*"}[5m])), 1e-12)',
        id="latency-rate-5m",
    ),
    pytest.param(
        lambda: promql.good_events(slo(LATENCY), D7),
        'sum(increase(http_request_duration_seconds_bucket{job="api", le=~"0[.]250*"}[7d]))',
        id="latency-good-7d",
    ),
    pytest.param(
        lambda: promql.total_events(slo(LATENCY), D7),
        'sum(increase(http_request_duration_seconds_count{job="api"}[7d]) and ignoring(le) '
        'increase(http_request_duration_seconds_bucket{job="api", le=~"0[.]250*"}[7d]))',
        id="latency-total-7d",
    ),
    pytest.param(
        lambda: promql.latency_quantile(LATENCY, 0.99, timedelta(hours=1)),
        "histogram_quantile(0.99, sum by (le) "
        '(rate(http_request_duration_seconds_bucket{job="api"}[1h])))',
        id="latency-quantile",
    ),
    pytest.param(
        lambda: promql.error_ratio(slo(PROBE), M5),
        '1 - sum(sum_over_time(probe_success{job="blackbox"}[5m])) / '
        'sum(count_over_time(probe_success{job="blackbox"}[5m]))',
        id="probe-5m",
    ),
    pytest.param(
        lambda: promql.event_rates(slo(PROBE), M5)[0],
        'sum(count_over_time(probe_success{job="blackbox"}[5m])) / 300',
        id="probe-per-second",
    ),
    pytest.param(
        lambda: promql.error_ratio(slo(FRESHNESS), M5),
        '1 - sum(sum_over_time(slo:sli_good_sample:bool{slo="api"}[5m])) / '
        'sum(count_over_time(slo:sli_good_sample:bool{slo="api"}[5m]))',
        id="freshness-5m",
    ),
    pytest.param(
        lambda: promql.good_sample(FRESHNESS),
        "time() - model_trained_timestamp_seconds < bool 3600",
        id="freshness-sample",
    ),
    pytest.param(
        lambda: promql.good_ratio(slo(FRESHNESS), timedelta(days=1)),
        "1 - (1 - avg_over_time((time() - model_trained_timestamp_seconds < bool 3600)[1d:30s]))",
        id="freshness-sli-any-history",
    ),
    pytest.param(
        lambda: promql.good_sample(THRESHOLD),
        '(queue_depth{job="api"}) <= bool 100',
        id="threshold-sample",
    ),
    pytest.param(
        lambda: promql.good_sample(CPU),
        'sum(rate(process_cpu_seconds_total{job="api"}[1m])) < bool 0.8',
        id="cpu-sample",
    ),
    pytest.param(
        lambda: promql.good_sample(MEMORY),
        'sum(process_resident_memory_bytes{job="api"}) < bool 536870912',
        id="memory-sample",
    ),
]

WINDOW_CASES = [
    pytest.param(
        lambda: promql.window_ratio(slo(ERRORS), M5),
        'slo:sli_error:ratio_rate5m{slo="api",service="web"}',
        id="rolling-30d-5m-recorded",
    ),
    pytest.param(
        lambda: promql.window_ratio(slo(ERRORS), timedelta(days=1)),
        "(sum by (slo, service) "
        '(sum_over_time(slo:sli_events:rate5m{slo="api",service="web",events="errors"}[1d]))) / '
        "clamp_min(sum by (slo, service) "
        '(sum_over_time(slo:sli_events:rate5m{slo="api",service="web",events="total"}[1d])), '
        "1e-12)",
        id="rolling-30d-1d-from-aggregates",
    ),
    pytest.param(
        lambda: promql.window_ratio(slo(ERRORS, period=D7), timedelta(hours=1, minutes=24)),
        'slo:sli_error:ratio_rate1h24m{slo="api",service="web"}',
        id="rolling-7d-1h24m-recorded",
    ),
    pytest.param(
        lambda: promql.window_ratio(slo(ERRORS, period=D7), timedelta(hours=5, minutes=36)),
        "(sum by (slo, service) "
        '(sum_over_time(slo:sli_events:rate5m{slo="api",service="web",events="errors"}[5h36m]))) '
        "/ clamp_min(sum by (slo, service) "
        '(sum_over_time(slo:sli_events:rate5m{slo="api",service="web",events="total"}[5h36m])), '
        "1e-12)",
        id="rolling-7d-5h36m-from-aggregates",
    ),
    pytest.param(
        lambda: promql.period_ratio(slo(ERRORS)),
        "(sum by (slo, service) "
        '(sum_over_time(slo:sli_events:rate5m{slo="api",service="web",events="errors"}[30d])) + '
        "on() group_left() "
        '(sum(slo:sli_events:since_aggregate{slo="api",service="web",events="errors"}) / 300 or '
        "vector(0))) / clamp_min(sum by (slo, service) "
        '(sum_over_time(slo:sli_events:rate5m{slo="api",service="web",events="total"}[30d])) + '
        "on() group_left() "
        '(sum(slo:sli_events:since_aggregate{slo="api",service="web",events="total"}) / 300 or '
        "vector(0)), 1e-12)\n",
        id="rolling-30d-period",
    ),
    pytest.param(
        lambda: promql.period_ratio(slo(PROBE, period=D7)),
        "(sum by (slo, service) "
        '(sum_over_time(slo:sli_events:rate5m{slo="api",service="web",events="errors"}[7d])) + '
        "on() group_left() "
        '(sum(slo:sli_events:since_aggregate{slo="api",service="web",events="errors"}) / 300 or '
        "vector(0))) / clamp_min(sum by (slo, service) "
        '(sum_over_time(slo:sli_events:rate5m{slo="api",service="web",events="total"}[7d])) + '
        "on() group_left() "
        '(sum(slo:sli_events:since_aggregate{slo="api",service="web",events="total"}) / 300 or '
        "vector(0)), 1e-12)\n",
        id="rolling-7d-period-probe",
    ),
    pytest.param(
        lambda: promql.alert_expr(ROLLING_30D, ROLLING_30D.alert_policies[0]),
        "(\n"
        '  slo:sli_error:ratio_rate5m{slo="api",service="web"} / 0.001 > 14.4\n'
        "  and on(slo, service)\n"
        '  slo:sli_error:ratio_rate1h{slo="api",service="web"} / 0.001 > 14.4\n'
        ")\n"
        "or\n"
        "(\n"
        '  slo:sli_error:ratio_rate30m{slo="api",service="web"} / 0.001 > 6\n'
        "  and on(slo, service)\n"
        '  slo:sli_error:ratio_rate6h{slo="api",service="web"} / 0.001 > 6\n'
        ")\n",
        id="page-30d",
    ),
    pytest.param(
        lambda: promql.alert_expr(LOW_TRAFFIC, LOW_TRAFFIC.alert_policies[1]),
        "(\n"
        '  slo:sli_error:ratio_rate2h{slo="api",service="web"} / 0.001 > 3\n'
        "  and on(slo, service)\n"
        "  ((sum by (slo, service) "
        '(sum_over_time(slo:sli_events:rate5m{slo="api",service="web",events="errors"}[1d]))) / '
        "clamp_min(sum by (slo, service) "
        '(sum_over_time(slo:sli_events:rate5m{slo="api",service="web",events="total"}[1d])), '
        "1e-12)) / 0.001 > 3\n"
        "  and on()\n"
        '  sum(sum_over_time(slo:sli_events:rate5m{slo="api",service="web",events="total"}[1d])) '
        "* 300 >= 50\n"
        ")\n"
        "or\n"
        "(\n"
        '  slo:sli_error:ratio_rate6h{slo="api",service="web"} / 0.001 > 1\n'
        "  and on(slo, service)\n"
        "  ((sum by (slo, service) "
        '(sum_over_time(slo:sli_events:rate5m{slo="api",service="web",events="errors"}[3d]))) / '
        "clamp_min(sum by (slo, service) "
        '(sum_over_time(slo:sli_events:rate5m{slo="api",service="web",events="total"}[3d])), '
        "1e-12)) / 0.001 > 1\n"
        "  and on()\n"
        '  sum(sum_over_time(slo:sli_events:rate5m{slo="api",service="web",events="total"}[3d])) '
        "* 300 >= 50\n"
        ")\n",
        id="ticket-30d-min-events",
    ),
    pytest.param(
        lambda: promql.alert_expr(ADJUSTED_7D, ADJUSTED_7D.alert_policies[0]),
        "(\n"
        '  slo:sli_error:ratio_rate1m{slo="api",service="web"} / 0.001 > 14.4\n'
        "  and on(slo, service)\n"
        '  slo:sli_error:ratio_rate14m{slo="api",service="web"} / 0.001 > 14.4\n'
        "  unless on()\n"
        "  vector((time() >= bool 1796695200) * ((time() - 1796695200) % 604800 < bool 3660)) == "
        "1\n"
        ")\n"
        "or\n"
        "(\n"
        '  slo:sli_error:ratio_rate7m{slo="api",service="web"} / 0.001 > 6\n'
        "  and on(slo, service)\n"
        '  slo:sli_error:ratio_rate1h24m{slo="api",service="web"} / 0.001 > 6\n'
        "  unless on()\n"
        "  vector((time() >= bool 1796695200) * ((time() - 1796695200) % 604800 < bool 4020)) == "
        "1\n"
        ")\n",
        id="page-7d-adjusted",
    ),
    pytest.param(
        lambda: promql.events_aggregate(slo(ERRORS)),
        'label_replace(sum(rate(http_requests_total{job="api"}[5m])), "events", "total", "", "")\n'
        "or\n"
        'label_replace((sum(rate(http_requests_total{job="api", code=~"5.."}[5m])) or vector(0)), '
        '"events", "errors", "", "")\n',
        id="aggregates",
    ),
    pytest.param(
        lambda: promql.events_aggregate(ADJUSTED_7D),
        "(\n"
        'label_replace(sum(rate(http_requests_total{job="api"}[5m])), "events", "total", "", "")\n'
        "or\n"
        'label_replace((sum(rate(http_requests_total{job="api", code=~"5.."}[5m])) or vector(0)), '
        '"events", "errors", "", "")\n'
        ") unless on() (vector((time() >= bool 1796695200) * ((time() - 1796695200) % 604800 < "
        "bool 3900)) == 1)\n",
        id="aggregates-adjusted",
    ),
    pytest.param(
        lambda: promql.since_last_aggregate(slo(ERRORS))[1],
        "(\n"
        '  (sum(rate(http_requests_total{job="api"}[1m]))) and on() (time() - '
        'max(max_over_time(slo:sli_aggregated_at:timestamp{slo="api",service="web"}[6m]))) < 120\n'
        '  or (sum(rate(http_requests_total{job="api"}[2m]))) and on() (time() - '
        'max(max_over_time(slo:sli_aggregated_at:timestamp{slo="api",service="web"}[6m]))) >= 120 '
        "< 180\n"
        '  or (sum(rate(http_requests_total{job="api"}[3m]))) and on() (time() - '
        'max(max_over_time(slo:sli_aggregated_at:timestamp{slo="api",service="web"}[6m]))) >= 180 '
        "< 240\n"
        '  or (sum(rate(http_requests_total{job="api"}[4m]))) and on() (time() - '
        'max(max_over_time(slo:sli_aggregated_at:timestamp{slo="api",service="web"}[6m]))) >= 240 '
        "< 300\n"
        '  or (sum(rate(http_requests_total{job="api"}[5m]))) and on() (time() - '
        'max(max_over_time(slo:sli_aggregated_at:timestamp{slo="api",service="web"}[6m]))) >= '
        "300\n"
        ") * on() (time() - "
        'max(max_over_time(slo:sli_aggregated_at:timestamp{slo="api",service="web"}[6m])))',
        id="since-last-aggregate-total",
    ),
]


@pytest.mark.parametrize(("build", "want"), SLI_CASES)
def test_each_sli_kind(build: Callable[[], str], want: str) -> None:
    assert build() == want


@pytest.mark.parametrize(("build", "want"), WINDOW_CASES)
def test_each_window_kind(build: Callable[[], str], want: str) -> None:
    assert build() == want


@pytest.mark.parametrize(("build", "want"), SLI_CASES + WINDOW_CASES)
def test_every_expression_parses(build: Callable[[], str], want: str) -> None:
    promql_parser.parse(want)  # raises ValueError naming the problem


def test_windows_scale_with_the_period() -> None:
    assert [promql.duration(w) for w in ROLLING_30D.windows] == [
        "5m", "30m", "1h", "2h", "6h", "1d", "3d"]  # fmt: skip
    assert [promql.duration(w) for w in ADJUSTED_7D.windows] == [
        "1m", "7m", "14m", "28m", "1h24m", "5h36m", "16h48m"]  # fmt: skip


def test_a_window_is_a_timedelta_or_prometheus_text() -> None:
    assert promql.error_ratio(ROLLING_30D, "1h30m") == promql.error_ratio(
        ROLLING_30D, timedelta(hours=1, minutes=30)
    )
    assert promql.duration(timedelta(days=2, hours=19, minutes=12)) == "2d19h12m"


def test_the_series_each_sli_reads() -> None:
    assert promql.selectors(ERRORS) == (ERRORS.errors, ERRORS.total)
    assert promql.selectors(LATENCY) == (
        'http_request_duration_seconds_bucket{job="api", le=~"0[.]250*"}',
        'http_request_duration_seconds_count{job="api"}',
    )
    assert promql.histogram_buckets(LATENCY) == 'http_request_duration_seconds_bucket{job="api"}'
    assert promql.selectors(PROBE) == ('probe_success{job="blackbox"}',)
    assert promql.selectors(FRESHNESS) == ()  # a recorded condition, not a selector
    assert promql.sample_series(slo(PROBE)) == 'probe_success{job="blackbox"}'
    assert promql.sample_series(slo(CPU)) == 'slo:sli_good_sample:bool{slo="api"}'


def test_a_probe_records_nothing() -> None:
    assert promql.good_sample(PROBE) is None


@pytest.mark.parametrize(
    ("build", "want"),
    [
        pytest.param(lambda: promql.firing_alerts(), 'ALERTS{alertstate="firing"}', id="firing"),
        pytest.param(
            lambda: promql.firing_alerts('alertname=~"A|B"', window=timedelta(days=7)),
            'ALERTS{alertstate="firing", alertname=~"A|B"}[7d]',
            id="firing-range",
        ),
        pytest.param(
            lambda: promql.firing_times("Page", ROLLING_30D, "min_over_time", "3600s:30s"),
            'min_over_time(timestamp(ALERTS{alertstate="firing", alertname="Page", '
            'slo="api"})[3600s:30s])',
            id="firing-times",
        ),
        pytest.param(
            lambda: promql.firing_starts("Page", ROLLING_30D, "3600s:30s", "30s"),
            'count_over_time((ALERTS{alertstate="firing", alertname="Page", slo="api"} unless '
            'ALERTS{alertstate="firing", alertname="Page", slo="api"} offset 30s)[3600s:30s])',
            id="firing-starts",
        ),
        pytest.param(
            lambda: promql.sum_rate('x_total{job="a"}', "$__rate_interval", by="status"),
            'sum by (status) (rate(x_total{job="a"}[$__rate_interval]))',
            id="sum-rate-by",
        ),
        pytest.param(
            lambda: promql.quantile(0.95, 'x_bucket{job="a"}', M5, by="path"),
            'histogram_quantile(0.95, sum by (le, path) (rate(x_bucket{job="a"}[5m])))',
            id="quantile",
        ),
        pytest.param(
            lambda: promql.per(promql.sum_rate("x_sum", M5), promql.sum_rate("x_count", M5)),
            "sum(rate(x_sum[5m])) / clamp_min(sum(rate(x_count[5m])), 1e-12)",
            id="mean-per-event",
        ),
        pytest.param(
            lambda: promql.aggregate_sums(
                [replace(ROLLING_30D, name="web-b"), ROLLING_30D], timedelta(days=1)
            ),
            'sum by (slo, events) (sum_over_time(slo:sli_events:rate5m{slo=~"api|web-b"}[1d]))',
            id="aggregate-sums",
        ),
        pytest.param(
            lambda: promql.mean_over_period(ROLLING_30D, "slo:sli_error:ratio_rate5m"),
            'sum_over_time(slo:sli_error:ratio_rate5m{slo="api",service="web"}[30d]) / '
            'count_over_time(slo:sli_error:ratio_rate5m{slo="api",service="web"}[30d])',
            id="mean-over-period",
        ),
    ],
)
def test_building_blocks(build: Callable[[], str], want: str) -> None:
    assert build() == want
