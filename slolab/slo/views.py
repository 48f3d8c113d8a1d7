"""How the toolkit shows figures: one place for the text and the records of a status.

Plain strings and dicts, no terminal library: the CLI table
(:mod:`slolab.slo.cli.status_table`), the web view and the Python API format
through these, so that a figure reads the same everywhere.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

from slolab.slo.durations import format_duration
from slolab.slo.policy import PERIOD
from slolab.slo.status import SHOWN_WINDOWS, SLOStatus

__all__ = ["NO_VALUE", "format_timedelta", "json_number", "percent", "span", "status_record"]

NO_VALUE = "-"  # what the status table and its plain lines show for a figure without data


def percent(value: float | None, digits: int = 3, missing: str = NO_VALUE) -> str:
    """``0.9995`` -> ``99.950%``; ``missing`` for None."""
    return missing if value is None else f"{value * 100:.{digits}f}%"


def format_timedelta(value: timedelta | None) -> str:
    """``never`` for None, else the two largest units, e.g. ``3d4h`` or ``12m``."""
    if value is None:
        return "never"
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "exhausted"
    if seconds < 60:
        return f"{seconds}s"
    return "".join(re.findall(r"\d+[dhm]", format_duration(seconds - seconds % 60))[:2])


def span(s: SLOStatus) -> str:
    """What the period figures cover: the period, or the shorter history they have."""
    if s.coverage is None:
        return format_duration(s.slo.period) if s.has_data else NO_VALUE
    if not s.partial:
        return format_duration(s.slo.period)
    return format_timedelta(timedelta(seconds=s.coverage))


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
        "period": format_duration(slo.period),
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
