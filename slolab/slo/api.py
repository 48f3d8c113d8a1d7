"""The SLO toolkit's Python API, importable from one place.

Four classes play the roles the design documents give them (names kept where
they read well; docs/python-api.md maps every name):

- :class:`SLITracker` records request outcomes as Prometheus metrics (the
  service side) and computes SLIs from Prometheus over any window;
- :class:`ErrorBudgetCalculator` does the budget arithmetic, with elapsed time;
- :class:`SLOReporter` builds compliance reports (rolling or calendar windows,
  with incidents) and delivers them (PDF, e-mail, Slack);
- :class:`SLOTrackingSystem` is the whole system for one ``slos.yaml`` and one
  Prometheus: status, dashboard data, time series, incidents, reviews, the
  deployment gate and the simulator.

Every building block they use is re-exported here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slolab.slo import budget as _budget
from slolab.slo import query as _query
from slolab.slo.durations import format_duration, parse_duration
from slolab.slo.gate import GateResult
from slolab.slo.gate import evaluate as _gate
from slolab.slo.incidents import Incident
from slolab.slo.incidents import find as _incidents
from slolab.slo.model import SLO, load
from slolab.slo.policy import Policies, load_policies
from slolab.slo.query import Prometheus, PrometheusError
from slolab.slo.report.analysis import Report, SLOReport, build, calendar_window
from slolab.slo.report.analysis import with_incidents as _with_incidents
from slolab.slo.report.html import to_html
from slolab.slo.report.markdown import to_markdown
from slolab.slo.reviews import ReviewDue
from slolab.slo.reviews import due as _reviews_due
from slolab.slo.simulate import Simulation, simulate
from slolab.slo.spec import SpecError
from slolab.slo.status import SLOStatus, collect
from slolab.slo.trends import Trend
from slolab.slo.trends import analyse as _trend
from slolab.slo.views import status_record

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = [
    "SLO",
    "ErrorBudgetCalculator",
    "GateResult",
    "Incident",
    "Prometheus",
    "PrometheusError",
    "Report",
    "ReviewDue",
    "SLITracker",
    "SLOReport",
    "SLOReporter",
    "SLOStatus",
    "SLOTrackingSystem",
    "Simulation",
    "SpecError",
    "Trend",
    "load",
    "simulate",
]

SLOSource = str | Path | Sequence[SLO]
PrometheusSource = str | Prometheus | None


def _slos(source: SLOSource) -> list[SLO]:
    return load(source) if isinstance(source, str | Path) else list(source)


def _prom(source: PrometheusSource) -> tuple[Prometheus, bool]:
    """A client, and whether we made it (and so must close it)."""
    if isinstance(source, Prometheus):
        return source, False
    return Prometheus(source), True


def _pick(slos: Sequence[SLO], name: str | None, kinds: tuple[str, ...]) -> SLO:
    for slo in slos:
        if (name is None and slo.sli.kind in kinds) or slo.name == name:
            return slo
    wanted = f"named {name!r}" if name else f"with a {' or '.join(kinds)} SLI"
    raise ValueError(f"no SLO {wanted} (SLOs: {', '.join(s.name for s in slos)})")


class _Client:
    """Owns a Prometheus client when it made one; a context manager."""

    def __init__(self, prometheus: PrometheusSource) -> None:
        self.prometheus, self._owned = _prom(prometheus)

    def close(self) -> None:
        if self._owned:
            self.prometheus.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SLITracker(_Client):
    """Record SLI events in a service, and compute SLIs from Prometheus.

    Recording uses prometheus_client, in the ``registry`` given (the caller's: nothing
    is registered globally, so two trackers with their own registries coexist):
    ``<namespace>_requests_total{outcome="success"|"error"}``,
    ``<namespace>_request_duration_seconds`` (histogram) and
    ``<namespace>_predictions_evaluated_total`` /
    ``<namespace>_predictions_correct_total``: the series a ``slos.yaml``
    ratio, latency and accuracy SLO then names. Computing reads the SLOs of
    ``slos`` from Prometheus over raw series, so any window works.
    """

    def __init__(
        self,
        prometheus: PrometheusSource = None,
        slos: SLOSource = "slos.yaml",
        *,
        registry: CollectorRegistry,
        namespace: str = "app",
        buckets: Sequence[float] | None = None,
    ) -> None:
        super().__init__(prometheus)
        self._slo_source = slos
        self._slos: list[SLO] | None = None
        from prometheus_client import Counter, Histogram

        kw: dict[str, Any] = {"namespace": namespace, "registry": registry}
        self._requests = Counter("requests", "Requests by outcome", ["outcome"], **kw)
        hist_kw = {**kw, "buckets": tuple(buckets)} if buckets else kw
        self._latency = Histogram("request_duration_seconds", "Request latency", **hist_kw)
        self._evaluated = Counter("predictions_evaluated", "Predictions with ground truth", **kw)
        self._correct = Counter("predictions_correct", "Predictions that were right", **kw)

    @property
    def slos(self) -> list[SLO]:
        if self._slos is None:
            self._slos = _slos(self._slo_source)
        return self._slos

    # --- recording ------------------------------------------------------------------
    def record_availability(self, success: bool) -> None:
        self._requests.labels(outcome="success" if success else "error").inc()

    def record_latency(self, latency_seconds: float) -> None:
        if latency_seconds < 0:
            raise ValueError(f"latency_seconds: {latency_seconds!r} must not be negative")
        self._latency.observe(latency_seconds)

    def record_accuracy(self, prediction: object, actual: object) -> None:
        self._evaluated.inc()
        if prediction == actual:
            self._correct.inc()

    # --- computing ------------------------------------------------------------------
    def sli(self, slo: str, window: str, at: datetime | None = None) -> float | None:
        """The SLI (good ratio, 0-1) of SLO ``slo`` over ``window``; None without data."""
        return _query.sli(self.prometheus, _pick(self.slos, slo, ()), window, at)

    def calculate_availability_sli(
        self, window: str = "30d", slo: str | None = None, at: datetime | None = None
    ) -> float | None:
        """Share of good requests (0-1) over ``window``: the first ratio/probe SLO, or ``slo``."""
        chosen = _pick(self.slos, slo, ("ratio", "probe"))
        return _query.sli(self.prometheus, chosen, window, at)

    def calculate_latency_sli(
        self,
        percentile: float = 0.95,
        window: str = "1h",
        slo: str | None = None,
        at: datetime | None = None,
    ) -> float | None:
        """The ``percentile`` latency in milliseconds (0.95 or 95 both mean p95)."""
        q = percentile / 100 if percentile > 1 else percentile
        chosen = _pick(self.slos, slo, ("latency",))
        value = _query.latency_quantile(self.prometheus, chosen, q, window, at)
        return None if value is None else value * 1000


class ErrorBudgetCalculator:
    """Budget arithmetic for one objective over a window of ``window_days``.

    ``slo_target`` is a fraction (0.999) or a percentage (99.9). Every figure
    comes from :mod:`slolab.slo.budget` (exact decimal complements).
    """

    def __init__(self, slo_target: float, window_days: float = 30) -> None:
        target = float(slo_target)
        # In decimal, so 99.9 becomes exactly 0.999 (99.9 / 100 is 0.9990000000000001).
        self.objective = float(Decimal(repr(target)) / 100) if 1 < target < 100 else target
        _budget.error_budget(self.objective)  # validates
        if window_days <= 0:
            raise ValueError(f"window_days: {window_days!r} must be above 0")
        self.window = timedelta(days=window_days)

    def allowed_error_rate(self) -> float:
        """0.999 -> 0.001."""
        return _budget.error_budget(self.objective)

    def allowed_downtime(self) -> timedelta:
        """99.9% over 30 days -> 43.2 minutes."""
        return _budget.allowed_downtime(self.objective, self.window)

    def burn_rate(self, current_error_rate: float) -> float:
        """2.0: the budget is being spent twice as fast as the window allows."""
        return _budget.burn_rate(current_error_rate, self.objective)

    def remaining_budget(self, current_error_rate: float, elapsed_days: float) -> float:
        """Share of the window's budget left after ``elapsed_days`` at ``current_error_rate``.

        1 untouched, 0 exhausted, negative overspent: ``1 - burn rate x elapsed / window``.
        """
        if elapsed_days < 0:
            raise ValueError(f"elapsed_days: {elapsed_days!r} must not be negative")
        share = timedelta(days=elapsed_days) / self.window
        return 1 - self.burn_rate(current_error_rate) * share

    def time_to_exhaustion(
        self, current_error_rate: float, elapsed_days: float
    ) -> timedelta | None:
        """How long the rest lasts at this rate (None: never; 0: already gone)."""
        left = self.remaining_budget(current_error_rate, elapsed_days)
        return _budget.time_to_exhaustion(left, self.burn_rate(current_error_rate), self.window)

    def is_budget_exhausted(self, current_error_rate: float, elapsed_days: float) -> bool:
        """Whether the budget is spent after ``elapsed_days`` at ``current_error_rate``.

        A function of its arguments only: no state is kept between calls.
        """
        return _budget.is_exhausted(self.remaining_budget(current_error_rate, elapsed_days))


def _incident(i: Incident) -> dict[str, Any]:
    end = None if i.end is None else i.end.isoformat()
    return {"id": i.id, "severity": i.severity, "start": i.start.isoformat(), "end": end,
            "slos": list(i.slos)}  # fmt: skip


def _incidents_data(report: Report) -> list[dict[str, Any]] | None:
    if report.incidents is None:
        return None
    return [
        {"id": i.id, "severity": i.severity, "start": i.start.isoformat(),
         "end": None if i.end is None else i.end.isoformat(), "slos": list(i.slos)}
        for i in report.incidents
    ]  # fmt: skip


class SLOReporter(_Client):
    """Compliance reports from Prometheus, and their delivery."""

    def __init__(self, prometheus: PrometheusSource = None, slos: SLOSource = "slos.yaml") -> None:
        super().__init__(prometheus)
        self.slos = _slos(slos)

    def generate_report(
        self,
        period: str | None = None,
        end: datetime | None = None,
        calendar: str | None = None,
        incidents: bool = True,
    ) -> Report:
        """Over each SLO's period, ``period``, or the calendar ``month``/``quarter`` of ``end``."""
        start = None
        if calendar is not None:
            start, end = calendar_window(calendar, end or datetime.now(UTC))
        report = build(self.prometheus, self.slos, period=period, end=end, start=start)
        return _with_incidents(self.prometheus, report) if incidents else report

    def generate_monthly_report(self, end: datetime | None = None) -> Report:
        """The calendar month of ``end`` (at the 1st 00:00 UTC: the month just ended)."""
        return self.generate_report(end=end, calendar="month")

    @staticmethod
    def summary(report: Report) -> dict[str, Any]:
        """The report as plain data: compliance, violations, budget, recommendations."""
        return {
            "generated_at": report.generated_at.isoformat(),
            "slos": [
                {
                    "name": r.slo.name,
                    "service": r.slo.service,
                    "objective": r.slo.objective,
                    "start": r.start.isoformat(),
                    "end": r.end.isoformat(),
                    "sli": r.sli,
                    "status": r.status,
                    "budget_consumed": r.budget_consumed,
                    "budget_remaining": r.budget_remaining,
                    "violations": [
                        {**asdict(v), "start": v.start.isoformat(), "end": v.end.isoformat()}
                        for v in r.violations
                    ],
                    "recommendations": list(r.recommendations),
                }
                for r in report.slos
            ],
            "incidents": _incidents_data(report),
        }

    to_markdown = staticmethod(to_markdown)
    to_html = staticmethod(to_html)

    def export_to_pdf(self, report: Report, path: str | Path) -> Path:
        """The report as a PDF with its charts."""
        from slolab.slo.delivery import write_pdf

        return write_pdf(report, Path(path))

    def send_email(self, report: Report, recipients: Sequence[str]) -> None:
        """E-mail the report (HTML body, PDF attached) with the SMTP settings of the environment."""
        from slolab.slo.delivery import EmailSettings, send_email

        send_email(report, EmailSettings.from_env(recipients=recipients))

    def send_slack(self, report: Report, webhook_url: str | None = None) -> None:
        """Post the summary to a Slack incoming webhook (default: the environment's)."""
        from slolab.slo.delivery import send_slack, slack_webhook_url

        send_slack(report, webhook_url or slack_webhook_url())


class SLOTrackingSystem(_Client):
    """The SLOs of one file against one Prometheus: everything the toolkit answers."""

    def __init__(
        self,
        slos: SLOSource = "slos.yaml",
        prometheus: PrometheusSource = None,
        policies: str | Path | Policies | None = None,
    ) -> None:
        super().__init__(prometheus)
        self.slos = _slos(slos)
        self.policies = policies if isinstance(policies, Policies) else load_policies(policies)

    def slo(self, name: str) -> SLO:
        return _pick(self.slos, name, ())

    def status(self) -> list[SLOStatus]:
        """SLI, budget left, burn rates, alerts and policy decision, from the recorded series."""
        return collect(self.prometheus, self.slos, self.policies)

    def dashboard_data(self) -> list[dict[str, Any]]:
        """What an SLO dashboard shows, per SLO, as plain data."""
        out = []
        for s in self.status():
            tte = s.time_to_exhaustion
            seconds = None if tte is None else tte.total_seconds()
            out.append({**status_record(s), "time_to_exhaustion_seconds": seconds})
        return out

    def time_series(
        self, slo: str, window: str = "1d", step: str = "5m", end: datetime | None = None
    ) -> list[tuple[datetime, float | None]]:
        """The SLI per ``step`` over the last ``window`` (raw series, traffic-weighted)."""
        chosen = self.slo(slo)
        end = (end or datetime.now(UTC)).replace(microsecond=0)
        step_td = parse_duration(step)
        start = end - parse_duration(window) + step_td
        series = self.prometheus.query_range(
            _query.sli_query(chosen, format_duration(step_td)), start, end, step_td
        )
        values = {t: v for s in series[:1] for t, v in s.points}
        points, t = [], start
        while t <= end:
            points.append((t, values.get(t.timestamp())))
            t += step_td
        return points

    def trends(
        self, window: str = "1d", windows: int = 7, end: datetime | None = None
    ) -> list[Trend]:
        """Per SLO: SLI and budget over the last ``windows`` windows, slope and direction."""
        return [_trend(self.prometheus, s, window, windows, end) for s in self.slos]

    def report(self, **kw: Any) -> Report:
        """See :meth:`SLOReporter.generate_report`."""
        return SLOReporter(self.prometheus, self.slos).generate_report(**kw)

    def incidents(self, since: str = "7d", end: datetime | None = None) -> list[Incident]:
        end = (end or datetime.now(UTC)).replace(microsecond=0)
        return _incidents(self.prometheus, self.slos, end - parse_duration(since), end)

    def reviews_due(self, as_of: date | None = None, within_days: int = 0) -> list[ReviewDue]:
        return _reviews_due(self.slos, as_of or date.today(), within_days)

    def gate(self) -> GateResult:
        """Whether the error-budget policy lets deploys through (``.exit_code``, ``.summary()``)."""
        return _gate(self.status())

    def simulate(
        self,
        slo: str,
        error_ratios: Sequence[float] | None = None,
        duration: str = "1h",
        budget_alerts: bool = False,
        rate: float | None = None,
    ) -> Simulation:
        """When an outage of each error ratio would page, ticket and resolve (needs promtool);
        ``rate``: the SLI's events per second (low traffic against ``alerting.min_events``)."""
        return simulate(self.slo(slo), error_ratios, parse_duration(duration),
                        budget_alerts=budget_alerts, rate=rate)  # fmt: skip
