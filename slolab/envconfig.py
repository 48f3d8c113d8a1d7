"""Read typed, bounded settings from the environment, with errors naming the variable.

Shared by both services, their servers and the lab, so that every setting
fails the same clear way (``TASKS_WORKERS must be an integer, got 'many'``).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["env_float", "env_int"]


def env_float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    """``env[name]`` as a number in [lo, hi]; ``default`` when unset or empty."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not lo <= value <= hi:  # also refuses NaN
        raise ValueError(f"{name} must be between {lo:g} and {hi:g}, got {raw}")
    return value


def env_int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """``env[name]`` as an integer in [lo, hi]; ``default`` when unset or empty."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {raw}")
    return value
