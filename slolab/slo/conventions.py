"""Names and numbers every SLO output agrees on: the one place to change them.

Recording-rule, label and alert names are the contract of docs/architecture.md
("SLO recording rules and alerts"); dashboards and the toolkit read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

from slolab.slo.durations import format_duration

__all__ = [
    "AGGREGATE_INTERVAL",
    "AGGREGATE_WINDOW",
    "ALERT_BREACH",
    "ALERT_BUDGET_LOW",
    "ALERT_NO_DATA",
    "ALERT_PAGE",
    "ALERT_TICKET",
    "BASE_PERIOD",
    "BURN_POLICIES",
    "DEFAULT_PERIOD",
    "DEFAULT_RUNBOOK_URL",
    "EVENTS_ERRORS",
    "EVENTS_TOTAL",
    "FAST_INTERVAL",
    "GENERATED_MARKER",
    "LABEL_EVENTS",
    "LABEL_SERVICE",
    "LABEL_SEVERITY",
    "LABEL_SLO",
    "LABEL_WINDOW",
    "MIN_WINDOW",
    "NO_DATA_FOR",
    "PERIODS",
    "RESERVED_LABELS",
    "RULE_ADJUSTMENT_ACTIVE",
    "RULE_AGGREGATED_AT",
    "RULE_BUDGET_REMAINING",
    "RULE_CURRENT_BURN_RATE",
    "RULE_ERROR_RATIO_PERIOD",
    "RULE_EVENTS_AGGREGATE",
    "RULE_EVENTS_SINCE_AGGREGATE",
    "RULE_GOOD_SAMPLE",
    "RULE_OBJECTIVE",
    "RULE_PERIOD_BURN_RATE",
    "RULE_PERIOD_COVERAGE",
    "SEVERITY_PAGE",
    "SEVERITY_TICKET",
    "SLOW_INTERVAL",
    "SLOW_WINDOW_FROM",
    "BurnPolicy",
    "WindowPair",
    "error_ratio_rule",
]

# --- recording rules --------------------------------------------------------
RULE_ERROR_RATIO_PREFIX = "slo:sli_error:ratio_rate"
RULE_ERROR_RATIO_PERIOD = "slo:sli_error:ratio_period"
RULE_OBJECTIVE = "slo:objective:ratio"
RULE_CURRENT_BURN_RATE = "slo:current_burn_rate:ratio"
RULE_PERIOD_BURN_RATE = "slo:period_burn_rate:ratio"
RULE_BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"
# The period is computed from compact aggregates, not raw samples: per SLO the
# rate of all events and of bad events over AGGREGATE_WINDOW, recorded every
# AGGREGATE_INTERVAL (events/s; for sample SLIs, samples/s). A ratio of their
# sums over any range is the traffic-weighted error ratio of that range, and a
# 30-day read costs 2 x 8,640 samples per SLO whatever the scrape rate.
# One rule per SLO records both, told apart by the label LABEL_EVENTS.
RULE_EVENTS_AGGREGATE = "slo:sli_events:rate5m"
LABEL_EVENTS = "events"
EVENTS_TOTAL = "total"
EVENTS_ERRORS = "errors"
# Value = the time the aggregates were recorded (one series per SLO): its oldest
# sample within the period says where the aggregates' history starts.
RULE_AGGREGATED_AT = "slo:sli_aggregated_at:timestamp"
# Seconds of the SLO period the period figures were computed over: the period
# itself once the aggregates are a period old, less while their history is shorter
# (rules just loaded or changed, data wiped). Read by status/report/trends and
# the dashboards to say "SLI over the last 3h" rather than "over 30d".
RULE_PERIOD_COVERAGE = "slo:period_coverage:seconds"
# Events (bad and all, told apart by LABEL_EVENTS) since the last aggregate, from the
# raw series: the period figures add them, so they move at every evaluation. One
# rule per service, its own query: its 5 minutes of raw reads never span the month.
RULE_EVENTS_SINCE_AGGREGATE = "slo:sli_events:since_aggregate"
# 1 when a gauge-threshold SLI (freshness, threshold) is met at this evaluation, else 0:
# recording it lets every window use sum_over_time/count_over_time, as for probes.
RULE_GOOD_SAMPLE = "slo:sli_good_sample:bool"
# 1 while one of the SLO's budget adjustments (planned work) is on, else 0: for the
# dashboards' shading; the aggregates and alerts compute it from time() themselves.
RULE_ADJUSTMENT_ACTIVE = "slo:adjustment_active:bool"


def error_ratio_rule(window: timedelta | str) -> str:
    """Name of the error-ratio series over ``window``, e.g. ``slo:sli_error:ratio_rate5m``."""
    text = window if isinstance(window, str) else format_duration(window)
    return f"{RULE_ERROR_RATIO_PREFIX}{text}"


# --- labels and alerts --------------------------------------------------------
# (LABEL_EVENTS is defined with the aggregates above.)
LABEL_SLO = "slo"
LABEL_SERVICE = "service"
LABEL_SEVERITY = "severity"
# An SLO with several periods (slos.yaml `periods: [30d, 7d]`): the period figures
# and budget alerts of each further period carry slo_window="7d"; those of the
# first period carry none, so an SLO of one period reads exactly as before.
LABEL_WINDOW = "slo_window"
RESERVED_LABELS = frozenset(
    {LABEL_SLO, LABEL_SERVICE, LABEL_SEVERITY, LABEL_EVENTS, LABEL_WINDOW, "le", "job", "instance"}
)

ALERT_PAGE = "SLOErrorBudgetBurnPage"
ALERT_TICKET = "SLOErrorBudgetBurnTicket"
# Budget alerts (tickets): thresholds from the SLO's error-budget policy.
ALERT_BUDGET_LOW = "SLOErrorBudgetLow"
ALERT_BREACH = "SLOBreach"
# An SLI that cannot be measured (no series, threshold bucket missing, targets down).
ALERT_NO_DATA = "SLOSLINoData"
NO_DATA_FOR = "10m"
SEVERITY_PAGE = "critical"
SEVERITY_TICKET = "warning"
DEFAULT_RUNBOOK_URL = "docs/runbooks.md#{name}"

# --- periods and windows ------------------------------------------------------
PERIODS = ("30d", "28d", "7d", "1d")
DEFAULT_PERIOD = "30d"
# The Workbook's windows are stated for 30 days; other periods scale them by
# period / BASE_PERIOD (as Pyrra does) so each condition spends the same budget share.
BASE_PERIOD = timedelta(days=30)
# rate() needs several scrapes in its window: scaled windows never go below this.
MIN_WINDOW = timedelta(minutes=1)

# Short windows and alerts are evaluated often; day-long windows and the period
# ratio (the expensive rules) in a slower group. Both stay under the 5m lookback
# so recorded series never go stale between evaluations.
FAST_INTERVAL = "30s"
SLOW_INTERVAL = "1m"
# The aggregates' group: one sample per SLO per AGGREGATE_INTERVAL, each the rate
# over the AGGREGATE_WINDOW before it (window = interval: every event counted once).
AGGREGATE_INTERVAL = "5m"
AGGREGATE_WINDOW = "5m"


_W = TypeVar("_W", timedelta, str)


@dataclass(frozen=True)
class WindowPair(Generic[_W]):
    """One multi-window condition: both windows burn faster than ``factor``.

    Windows as durations in 30-day terms here; scaled to an SLO's period and written
    the Prometheus way (``WindowPair[str]``) in :mod:`slolab.slo.model`.
    """

    long: _W
    short: _W
    factor: float


@dataclass(frozen=True)
class BurnPolicy:
    alert: str
    severity: str
    pairs: tuple[WindowPair[timedelta], ...]


def _h(hours: float) -> timedelta:
    return timedelta(hours=hours)


# Google SRE Workbook, ch. 5 "Alerting on SLOs", table 5-8 (30-day budget).
BURN_POLICIES = (
    BurnPolicy(
        ALERT_PAGE,
        SEVERITY_PAGE,
        (
            WindowPair(_h(1), timedelta(minutes=5), 14.4),
            WindowPair(_h(6), timedelta(minutes=30), 6),
        ),
    ),
    BurnPolicy(
        ALERT_TICKET,
        SEVERITY_TICKET,
        (WindowPair(_h(24), _h(2), 3), WindowPair(_h(72), _h(6), 1)),
    ),
)

GENERATED_MARKER = "generated by slolab slo generate from {source} — do not edit"

# Windows at least this long (in 30-day terms: the ticket's 1d and 3d) and the
# period itself are evaluated in the slow group.
SLOW_WINDOW_FROM = timedelta(days=1)
