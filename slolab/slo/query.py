"""A small client for the Prometheus HTTP API, and SLI queries over any window.

:class:`Prometheus` wraps ``/api/v1/query``, ``/api/v1/query_range`` and
``/api/v1/alerts`` with timeouts and turns every failure into one
:class:`PrometheusError` whose message names the problem (unreachable, timed
out, HTTP error, or Prometheus' own ``errorType: error``).

The SLI helpers build PromQL from the SLO model over raw series, so they work
over any window and any history (also backfilled data that recording rules
never saw). ``slolab slo status`` reads the recorded series instead: what the
alerts see.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import httpx

from slolab.slo import promql
from slolab.slo.durations import parse_duration
from slolab.slo.model import SLO, LatencySLI

__all__ = [
    "DEFAULT_URL",
    "ENV_URL",
    "Alert",
    "Exemplar",
    "NoDataError",
    "Prometheus",
    "PrometheusError",
    "Sample",
    "Series",
    "counts_queries",
    "latency_quantile",
    "latency_quantile_query",
    "prometheus_url",
    "sli",
    "sli_query",
]

ENV_URL = "PROMETHEUS_URL"
DEFAULT_URL = "http://127.0.0.1:9090"
DEFAULT_TIMEOUT = 30.0


def prometheus_url(explicit: str | None = None) -> str:
    """``explicit``, else ``$PROMETHEUS_URL``, else the local default; no trailing slash."""
    return (explicit or os.environ.get(ENV_URL) or DEFAULT_URL).rstrip("/")


class PrometheusError(Exception):
    """Prometheus could not answer a query; the message says why."""


class NoDataError(PrometheusError):
    """A query that must return a value returned nothing."""


def _float(raw: Any) -> float | None:
    """Prometheus sends numbers as strings; NaN (0/0) is no value."""
    value = float(raw)
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector (or a scalar, with no labels)."""

    labels: Mapping[str, str]
    value: float | None
    timestamp: float


@dataclass(frozen=True)
class Series:
    """One series of a range query: ``(unix time, value or None)`` points."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float | None], ...]


@dataclass(frozen=True)
class Alert:
    """An alert as ``/api/v1/alerts`` lists it (state ``pending`` or ``firing``)."""

    name: str
    state: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    active_at: str | None = None


@dataclass(frozen=True)
class Exemplar:
    """One exemplar: the series it was attached to, its labels (e.g. trace_id), value, time."""

    series: Mapping[str, str]
    labels: Mapping[str, str]
    value: float
    timestamp: float


def _when(at: datetime | float | None) -> float | None:
    if at is None or isinstance(at, int | float):
        return at
    return at.timestamp()


class Prometheus:
    """Client for one Prometheus server. Use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = prometheus_url(url)
        self.timeout = timeout
        self._client = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # --- transport -------------------------------------------------------------
    def _get(self, path: str, params: Mapping[str, Any] | None = None, what: str = "") -> Any:
        where = f"Prometheus at {self.url}"
        context = f" (query: {what})" if what else ""
        try:
            resp = self._client.get(path, params=params)
        except httpx.ConnectError as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else str(exc)
            raise PrometheusError(
                f"cannot reach {where}: {reason} (set --prometheus or ${ENV_URL})"
            ) from None
        except httpx.TimeoutException:
            raise PrometheusError(
                f"{where} did not answer within {self.timeout:g}s{context}"
            ) from None
        except httpx.HTTPError as exc:
            raise PrometheusError(f"cannot reach {where}: {exc}") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == "error":
            kind = body.get("errorType") or "error"
            raise PrometheusError(
                f"{where} refused the query: {kind}: {body.get('error')}{context}"
            )
        if resp.status_code != 200:
            text = resp.text.strip().replace("\n", " ")[:200]
            raise PrometheusError(f"{where} answered HTTP {resp.status_code} for {path}: {text}")
        if not isinstance(body, dict) or body.get("status") != "success" or "data" not in body:
            raise PrometheusError(
                f"{where} sent an unexpected answer for {path}: {resp.text[:200]}"
            )
        return body["data"]

    # --- API ---------------------------------------------------------------------
    def query(self, expr: str, at: datetime | float | None = None) -> list[Sample]:
        """Evaluate ``expr`` at one instant (now by default)."""
        params: dict[str, Any] = {"query": expr, "timeout": f"{self.timeout:g}s"}
        if (t := _when(at)) is not None:
            params["time"] = t
        data = self._get("/api/v1/query", params, expr)
        kind, result = data.get("resultType"), data.get("result")
        if kind in ("scalar", "string"):
            return [Sample(MappingProxyType({}), _float(result[1]), float(result[0]))]
        if kind != "vector":
            raise PrometheusError(f"expected an instant vector for {expr!r}, got {kind}")
        return [
            Sample(MappingProxyType(dict(r["metric"])), _float(r["value"][1]), float(r["value"][0]))
            for r in result
        ]

    def query_range(
        self,
        expr: str,
        start: datetime | float,
        end: datetime | float,
        step: timedelta,
    ) -> list[Series]:
        """Evaluate ``expr`` every ``step`` from ``start`` to ``end``."""
        params = {
            "query": expr,
            "start": _when(start),
            "end": _when(end),
            "step": f"{step.total_seconds():g}s",
            "timeout": f"{self.timeout:g}s",
        }
        data = self._get("/api/v1/query_range", params, expr)
        return _matrix(data, expr)

    def query_stats(self, expr: str, at: datetime | float | None = None) -> dict[str, Any]:
        """The query API's statistics (``stats=all``) of evaluating ``expr`` at one instant."""
        params: dict[str, Any] = {"query": expr, "timeout": f"{self.timeout:g}s", "stats": "all"}
        if (t := _when(at)) is not None:
            params["time"] = t
        stats = self._get("/api/v1/query", params, expr).get("stats")
        return stats if isinstance(stats, dict) else {}

    def samples(self, expr: str, at: datetime | float | None = None) -> list[Series]:
        """The raw samples of a range selector such as ``ALERTS[7d]`` (no step, no limit)."""
        params: dict[str, Any] = {"query": expr, "timeout": f"{self.timeout:g}s"}
        if (t := _when(at)) is not None:
            params["time"] = t
        data = self._get("/api/v1/query", params, expr)
        return _matrix(data, expr)

    def value(self, expr: str, at: datetime | float | None = None) -> float | None:
        """The single value of ``expr``, or None when it returns nothing (or NaN)."""
        samples = self.query(expr, at)
        if len(samples) > 1:
            raise PrometheusError(
                f"expected one series for {expr!r}, got {len(samples)}: aggregate it with sum()"
            )
        return samples[0].value if samples else None

    def require_value(self, expr: str, at: datetime | float | None = None) -> float:
        """Like :meth:`value`, but no data is an error naming the likely causes."""
        value = self.value(expr, at)
        if value is None:
            raise NoDataError(
                f"no data for {expr}: the selector matches no series in Prometheus at "
                f"{self.url}, or they have no samples in the window"
            )
        return value

    def exemplars(
        self, expr: str, start: datetime | float, end: datetime | float
    ) -> list[Exemplar]:
        """Exemplars of the series ``expr`` selects between ``start`` and ``end``.

        Empty when Prometheus runs without ``--enable-feature=exemplar-storage``.
        """
        params = {"query": expr, "start": _when(start), "end": _when(end)}
        data = self._get("/api/v1/query_exemplars", params, expr)
        found = []
        for group in data or []:
            series = MappingProxyType(dict(group.get("seriesLabels", {})))
            for ex in group.get("exemplars", []):
                found.append(
                    Exemplar(
                        series,
                        MappingProxyType(dict(ex.get("labels", {}))),
                        float(ex["value"]),
                        float(ex["timestamp"]),
                    )
                )
        return found

    def alerts(self) -> list[Alert]:
        """Alerts Prometheus currently holds (pending and firing)."""
        data = self._get("/api/v1/alerts")
        alerts = []
        for a in data.get("alerts", []):
            labels = dict(a.get("labels", {}))
            alerts.append(
                Alert(
                    name=labels.get("alertname", "?"),
                    state=a.get("state", ""),
                    labels=MappingProxyType(labels),
                    annotations=MappingProxyType(dict(a.get("annotations", {}))),
                    active_at=a.get("activeAt"),
                )
            )
        return alerts


# --- SLI queries over any window ---------------------------------------------------


def _check_window(window: timedelta | str) -> timedelta | str:
    if isinstance(window, str):
        parse_duration(window)  # raises ValueError naming the text
    return window


def counts_queries(slo: SLO, window: timedelta | str) -> tuple[str, str]:
    """PromQL for (good, total) events over ``window`` from raw series.

    Gauge-threshold SLIs (freshness) re-evaluate their condition in a subquery
    instead of reading the recorded 0/1 series, so history before the rules
    were loaded (or backfilled) counts too.
    """
    _check_window(window)
    return promql.raw_counts(slo, window)


def sli_query(slo: SLO, window: timedelta | str) -> str:
    """PromQL for the SLI (good ratio) over ``window``, traffic-weighted."""
    _check_window(window)
    return promql.good_ratio(slo, window)


def sli(
    prom: Prometheus, slo: SLO, window: str, at: datetime | float | None = None
) -> float | None:
    """The SLI of ``slo`` over ``window`` ending at ``at`` (now); None without data."""
    return prom.value(sli_query(slo, window), at)


def latency_quantile_query(slo: SLO, quantile: float, window: str) -> str:
    """PromQL for the ``quantile`` latency (seconds) of a latency SLO's histogram."""
    if not isinstance(slo.sli, LatencySLI):
        raise ValueError(f"slo {slo.name!r} has a {slo.sli.kind} SLI, not a latency histogram")
    if not 0 < quantile < 1:
        raise ValueError(f"quantile: {quantile!r} must be between 0 and 1, e.g. 0.95")
    _check_window(window)
    return promql.latency_quantile(slo.sli, quantile, window)


def latency_quantile(
    prom: Prometheus, slo: SLO, quantile: float, window: str, at: datetime | float | None = None
) -> float | None:
    """The ``quantile`` latency in seconds over ``window``; None without traffic."""
    return prom.value(latency_quantile_query(slo, quantile, window), at)


def _matrix(data: dict[str, Any], expr: str) -> list[Series]:
    """The series of a range-vector answer (query_range, or a range selector at an instant)."""
    if data.get("resultType") != "matrix":
        raise PrometheusError(f"expected a range vector for {expr!r}, got {data.get('resultType')}")
    return [
        Series(
            MappingProxyType(dict(r["metric"])),
            tuple((float(t), _float(v)) for t, v in r["values"]),
        )
        for r in data["result"]
    ]
