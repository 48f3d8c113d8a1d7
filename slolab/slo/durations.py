"""Prometheus duration strings (``5m``, ``1h24m``, ``30d``) to seconds and back."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration", "whole_minutes"]

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> timedelta:
    """Parse a Prometheus duration made of d/h/m/s parts, e.g. ``90d`` or ``1h30m``."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration like 30d, 6h, 1h30m or 90s")
    seconds = sum(int(g or 0) * unit for g, (_, unit) in zip(match.groups(), _UNITS, strict=True))
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta | int) -> str:
    """Format whole seconds the way Prometheus accepts and people read: ``2d19h12m``."""
    seconds = int(value.total_seconds()) if isinstance(value, timedelta) else int(value)
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {seconds}s")
    parts = []
    for suffix, unit in _UNITS:
        count, seconds = divmod(seconds, unit)
        if count:
            parts.append(f"{count}{suffix}")
    return "".join(parts)


def whole_minutes(value: timedelta) -> timedelta:
    """``value`` rounded down to whole minutes, at least one (for spans people read)."""
    return max(timedelta(minutes=int(value.total_seconds() // 60)), timedelta(minutes=1))
