"""Load shapes, one per scenario: steady, ramp, spike, budget-burn, chaos.

Locust uses the first shape class it finds in the locustfile, so the locustfile
has exactly one, which delegates to ``select(SCENARIO)``. Shapes tick on the
master only (or the single local runner), once a second, which also makes them
the place to drive faults: budget-burn and chaos switch faults through
:class:`FaultClient`.

Plain classes, no Locust import: importing locust monkey-patches the process
with gevent, which a test process must not suffer. Each shape's load is a pure
function of the run time, so schedules are unit-tested tick by tick.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from loadgen.faults import FaultClient

__all__ = [
    "CHAOS_FAULTS",
    "SCENARIOS",
    "BudgetBurn",
    "Chaos",
    "Ramp",
    "Scenario",
    "Settings",
    "Spike",
    "Steady",
    "select",
]

log = logging.getLogger("loadgen.shapes")

# Faults chaos may switch, per service (the services' allowed sets), with a
# random setting for each: (low, high) for numbers, True for switches. A copy of
# slolab/contract.py FAULTS (loadgen runs without slolab): tests/test_contract.py.
CHAOS_FAULTS: dict[str, dict[str, Any]] = {
    "tasks": {
        "error_rate": (0.05, 0.5),
        "latency_ms": (200, 1500),
        "store_outage": True,
        "predictor_unreachable": True,
    },
    "predictor": {
        "error_rate": (0.05, 0.5),
        "latency_ms": (100, 800),
        "model_drift": True,
        "stale_model": True,
    },
}


# loadgen runs in the stock Locust image without slolab installed: it cannot use
# slolab.envconfig, hence this copy of env_float with a lower bound only, held to
# parse and refuse alike by tests/test_contract.py.
def _number(env: Mapping[str, str], name: str, default: float, low: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):  # nan and inf would pass the comparison below
        raise ValueError(f"{name} must be a finite number, got {raw}")
    if value < low:
        raise ValueError(f"{name} must be at least {low:g}, got {value:g}")
    return value


@dataclass(frozen=True)
class Settings:
    """Scenario knobs, from the environment (defaults suit a laptop demo)."""

    users: int = 10  # LOAD_USERS: steady users; ramp and spike scale from it
    spawn_rate: float = 2.0  # LOAD_SPAWN_RATE: users started per second
    burn_start_s: float = 60.0  # BURN_START_S: budget-burn switches the fault on then
    burn_duration_s: float = 600.0  # BURN_DURATION_S: ... and off this much later
    burn_error_rate: float = 0.2  # BURN_ERROR_RATE: share of tasks requests answered 5xx
    chaos_seed: int | None = None  # CHAOS_SEED: repeatable chaos
    tasks_url: str = "http://127.0.0.1:8081"  # TASKS_URL
    predictor_url: str = "http://127.0.0.1:8082"  # PREDICTOR_URL
    admin_token: str | None = None  # SLOLAB_ADMIN_TOKEN

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        seed = env.get("CHAOS_SEED", "").strip()
        rate = _number(env, "BURN_ERROR_RATE", cls.burn_error_rate, 0.0)
        if rate > 1:
            raise ValueError(f"BURN_ERROR_RATE must be at most 1, got {rate:g}")
        return cls(
            users=int(_number(env, "LOAD_USERS", cls.users, 1)),
            spawn_rate=_number(env, "LOAD_SPAWN_RATE", cls.spawn_rate, 0.1),
            burn_start_s=_number(env, "BURN_START_S", cls.burn_start_s, 0),
            burn_duration_s=_number(env, "BURN_DURATION_S", cls.burn_duration_s, 1),
            burn_error_rate=rate,
            chaos_seed=int(seed) if seed else None,
            tasks_url=(env.get("TASKS_URL") or cls.tasks_url).rstrip("/"),
            predictor_url=(env.get("PREDICTOR_URL") or cls.predictor_url).rstrip("/"),
            admin_token=env.get("SLOLAB_ADMIN_TOKEN") or None,
        )


class Scenario:
    """A load shape that may also drive faults; subclasses define ``users_at``."""

    name: ClassVar[str] = ""

    def __init__(self, settings: Settings | None = None, faults: FaultClient | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.faults = faults or FaultClient(
            {"tasks": self.settings.tasks_url, "predictor": self.settings.predictor_url},
            self.settings.admin_token,
        )
        self.touched: set[str] = set()  # services whose faults this run switched
        self.reset_state()

    def users_at(self, t: float) -> tuple[int, float] | None:
        raise NotImplementedError

    def drive_faults(self, t: float) -> None:
        """Switch faults due at run time ``t`` (default: none)."""

    def reset_state(self) -> None:
        """Start the fault schedule over (a new run)."""

    def tick(self, t: float, limit: float | None = None) -> tuple[int, float] | None:
        """(users, spawn rate) at run time ``t``; None ends the run (``limit`` reached)."""
        if limit is not None and t >= limit:
            return None
        try:
            self.drive_faults(t)
        except Exception:  # a fault schedule must never stop the load
            log.exception("fault driver failed")
        return self.users_at(t)

    def cleanup(self) -> None:
        """Clear the faults this run switched (called when the test stops)."""
        for service in sorted(self.touched):
            self.faults.clear(service)
        self.touched.clear()


class Steady(Scenario):
    """Constant load: ``users`` users for as long as the run lasts."""

    name = "steady"

    def users_at(self, t: float) -> tuple[int, float] | None:
        return self.settings.users, self.settings.spawn_rate


class Ramp(Scenario):
    """From 1 user to 3 x ``users`` over five minutes, then hold."""

    name = "ramp"
    ramp_s: ClassVar[float] = 300.0
    factor: ClassVar[int] = 3

    def users_at(self, t: float) -> tuple[int, float] | None:
        peak = self.settings.users * self.factor
        users = peak if t >= self.ramp_s else max(1, round(peak * t / self.ramp_s))
        return users, self.settings.spawn_rate


class Spike(Scenario):
    """``users`` users, with a 30-second burst of 5 x ``users`` every three minutes."""

    name = "spike"
    every_s: ClassVar[float] = 180.0
    spike_at_s: ClassVar[float] = 120.0
    spike_s: ClassVar[float] = 30.0
    factor: ClassVar[int] = 5

    def users_at(self, t: float) -> tuple[int, float] | None:
        users = self.settings.users
        in_cycle = t % self.every_s
        if self.spike_at_s <= in_cycle < self.spike_at_s + self.spike_s:
            # Arrive all at once: a spike, not a ramp.
            return users * self.factor, float(users * self.factor)
        return users, float(users * self.factor)


class BudgetBurn(Steady):
    """Steady load; the tasks ``error_rate`` fault is on from T1 to T2, then off."""

    name = "budget-burn"
    service: ClassVar[str] = "tasks"

    def reset_state(self) -> None:
        self.phase = "before"

    def drive_faults(self, t: float) -> None:
        s = self.settings
        start, end = s.burn_start_s, s.burn_start_s + s.burn_duration_s
        if self.phase == "before" and t >= start:
            # expires_in_s ends the burn even if this process dies before T2.
            self.faults.set(
                self.service, error_rate=s.burn_error_rate, expires_in_s=s.burn_duration_s
            )
            self.touched.add(self.service)
            self.phase = "burning"
        elif self.phase == "burning" and t >= end:
            self.faults.clear(self.service)
            self.touched.discard(self.service)
            self.phase = "after"


class Chaos(Steady):
    """Steady load; random faults on random services for random short spells."""

    name = "chaos"
    first_after_s: ClassVar[float] = 30.0
    gap_s: ClassVar[tuple[float, float]] = (30.0, 120.0)
    spell_s: ClassVar[tuple[int, int]] = (20, 90)

    def reset_state(self) -> None:
        self.rng = random.Random(self.settings.chaos_seed)
        self.next_at = self.first_after_s

    def spell(self) -> tuple[str, dict[str, Any]]:
        """One random fault setting (service, body) that switches itself off."""
        service = self.rng.choice(sorted(CHAOS_FAULTS))
        fault = self.rng.choice(sorted(CHAOS_FAULTS[service]))
        spec = CHAOS_FAULTS[service][fault]
        if spec is True:
            value: Any = True
        elif fault == "error_rate":
            value = round(self.rng.uniform(*spec), 2)
        else:
            value = self.rng.randint(*spec)
        return service, {fault: value, "expires_in_s": self.rng.randint(*self.spell_s)}

    def drive_faults(self, t: float) -> None:
        if t < self.next_at:
            return
        service, body = self.spell()
        self.faults.set(service, **body)
        self.touched.add(service)
        self.next_at = t + body["expires_in_s"] + self.rng.uniform(*self.gap_s)


SCENARIOS: dict[str, type[Scenario]] = {
    cls.name: cls for cls in (Steady, Ramp, Spike, BudgetBurn, Chaos)
}


def select(name: str | None) -> type[Scenario]:
    """The shape class of scenario ``name`` (default steady)."""
    key = (name or "steady").strip().lower()
    if key not in SCENARIOS:
        raise ValueError(f"SCENARIO must be one of {', '.join(SCENARIOS)}, got {name!r}")
    return SCENARIOS[key]
