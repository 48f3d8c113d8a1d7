"""How the toolkit shows figures: one place for the text and the records of a status.

Plain strings and dicts, no terminal library: the CLI table
(:mod:`slolab.slo.cli.status_table`), the reports (:mod:`slolab.slo.report`),
the simulator's tables, the web view and the Python API format through these,
so that a figure reads the same everywhere: a ratio as ``99.950%``, a burn
rate as ``14.40x``, a time as ``17.3s`` or ``2h30m``, and a figure without a
value as :data:`NO_VALUE`.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from slolab.slo.durations import whole_minutes
from slolab.slo.policy import PERIOD
from slolab.slo.status import SHOWN_WINDOWS, SLOStatus

__all__ = [
    "NO_VALUE",
    "burn_rate",
    "duration",
    "event_rate",
    "json_number",
    "percent",
    "span",
    "status_record",
    "time_left",
]

NO_VALUE = "—"  # a figure without a value (no data, never fired), in every table and line

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def percent(value: float | None, digits: int | None = 3, missing: str = NO_VALUE) -> str:
    """``0.9995`` -> ``99.950%`` (``digits=None``: as few digits as needed, ``5%``)."""
    if value is None:
        return missing
    return f"{value * 100:g}%" if digits is None else f"{value * 100:.{digits}f}%"


def burn_rate(value: float | None, digits: int | None = 2, missing: str = NO_VALUE) -> str:
    """A burn rate (multiple of the budget's rate): ``14.40x`` (``digits=None``: ``100x``)."""
    if value is None:
        return missing
    return f"{value:.4g}x" if digits is None else f"{value:.{digits}f}x"


def duration(
    value: timedelta | float | None, units: int | None = None, missing: str = NO_VALUE
) -> str:
    """A span of time (or seconds) as people read it: ``17.3s`` under a minute, else
    ``5m30s``, ``1d9h``.

    Whole seconds from a minute up, in d/h/m/s units (a Prometheus duration);
    ``units``: only the largest that many (a forecast: ``1d9h``). Negative spans
    get a minus sign; ``missing`` for None.
    """
    if value is None:
        return missing
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        return "-" + duration(-seconds, units)
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}".removesuffix(".0") + "s"
    left, parts = round(seconds), []
    for suffix, unit in _UNITS:
        count, left = divmod(left, unit)
        if count:
            parts.append(f"{count}{suffix}")
    return "".join(parts[:units])


def event_rate(per_second: float) -> str:
    """Events per second in the unit that reads best: ``2/s``, ``3/m``, ``10/h``."""
    unit, seconds = next(
        ((u, s) for u, s in (("s", 1), ("m", 60)) if per_second * s >= 1), ("h", 3600)
    )
    return f"{per_second * seconds:.4g}/{unit}"


def time_left(value: timedelta | None) -> str:
    """Time to exhaustion: ``never`` for None, ``exhausted`` at zero, else whole minutes
    from a minute up, two units at most (``3d4h``, ``12m``): a forecast, not a measure."""
    if value is None:
        return "never"
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "exhausted"
    return duration(timedelta(seconds=seconds if seconds < 60 else seconds - seconds % 60), 2)


def span(s: SLOStatus) -> str:
    """What the period figures cover: the period, or the shorter history they have
    (whole minutes, as the reports and trends say it)."""
    if s.coverage is None:
        return duration(s.slo.period) if s.has_data else NO_VALUE
    if not s.partial:
        return duration(s.slo.period)
    return duration(whole_minutes(timedelta(seconds=s.coverage)))


def json_number(value: float | None) -> float | None:
    """None for None, NaN and infinities: JSON has no NaN or infinity."""
    return None if value is None or not math.isfinite(value) else value


def status_record(s: SLOStatus) -> dict[str, Any]:
    """One SLO's status as plain data: the web view's row and the API's dashboard data."""
    slo = s.slo
    period = slo.period.total_seconds()
    return {
        "name": slo.name,
        "service": slo.service,
        "description": slo.description,
        "objective": slo.objective,
        "period": duration(slo.period),
        "period_seconds": period,
        "sli": json_number(s.sli),
        "budget_remaining": json_number(s.budget_remaining),
        "burn_rates": {w: json_number(s.burn_rates.get(w)) for w in (*SHOWN_WINDOWS, PERIOD)},
        "state": str(s.state),
        "alerts": list(s.alerts),
        "policy": s.decision.action.label,
        # slo:period_coverage:seconds, read with the other recorded series.
        "coverage_seconds": None if s.coverage is None else min(s.coverage, period),
    }
