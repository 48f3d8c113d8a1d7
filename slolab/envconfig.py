"""Read typed, bounded settings from the environment, with errors naming the variable.

Shared by both services, their servers and the lab, so that every setting
fails the same clear way (``TASKS_WORKERS must be an integer, got 'many'``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

__all__ = ["env_float", "env_int"]

_N = TypeVar("_N", int, float)


def _env_number(
    env: Mapping[str, str],
    name: str,
    default: _N,
    bounds: tuple[_N, _N],
    parse: Callable[[str], _N],
    kind: str,
    spec: str,
) -> _N:
    """``env[name]`` parsed, in ``bounds``; ``default`` when unset or empty.

    ``kind`` names the type in the error, ``spec`` formats the bounds there.
    """
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ValueError(f"{name} must be {kind}, got {raw!r}") from None
    lo, hi = bounds
    if not lo <= value <= hi:  # also refuses NaN
        raise ValueError(f"{name} must be between {lo:{spec}} and {hi:{spec}}, got {raw}")
    return value


def env_float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    """``env[name]`` as a number in [lo, hi]; ``default`` when unset or empty."""
    return _env_number(env, name, default, (lo, hi), float, "a number", "g")


def env_int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """``env[name]`` as an integer in [lo, hi]; ``default`` when unset or empty."""
    return _env_number(env, name, default, (lo, hi), int, "an integer", "")
