"""Deployment gate: may we deploy now? No, while a policy freezes deploys for an SLO.

For CI/CD: ``slolab slo gate --service tasks`` exits 1 with the reasons when
any selected SLO's policy says freeze, 0 with a one-line summary per SLO
otherwise (errors reaching Prometheus exit 2, from the CLI).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from slolab.slo.model import SLO
from slolab.slo.status import SLOStatus

__all__ = ["GateResult", "evaluate", "select"]


def select(
    slos: Sequence[SLO], services: Iterable[str] = (), names: Iterable[str] = ()
) -> list[SLO]:
    """The SLOs matching any of ``services`` and ``names`` (all when both are empty)."""
    services, names = set(services), set(names)
    unknown = names - {s.name for s in slos}
    if unknown:
        known = ", ".join(s.name for s in slos)
        raise ValueError(f"slo: unknown {', '.join(sorted(unknown))} (known: {known})")
    unknown_services = services - {s.service for s in slos}
    if unknown_services:
        known = ", ".join(sorted({s.service for s in slos}))
        raise ValueError(
            f"service: no SLOs for {', '.join(sorted(unknown_services))} (services: {known})"
        )
    if not services and not names:
        return list(slos)
    return [s for s in slos if s.service in services or s.name in names]


@dataclass(frozen=True)
class GateResult:
    statuses: tuple[SLOStatus, ...]

    @property
    def frozen(self) -> tuple[SLOStatus, ...]:
        return tuple(s for s in self.statuses if s.decision.freezes_deploys)

    @property
    def allowed(self) -> bool:
        return not self.frozen

    @property
    def exit_code(self) -> int:
        return 0 if self.allowed else 1

    def summary(self) -> str:
        lines = []
        if self.allowed:
            lines.append(
                f"deploy allowed: no policy freezes deploys ({len(self.statuses)} SLOs checked)"
            )
        else:
            names = ", ".join(s.slo.name for s in self.frozen)
            lines.append(f"deploy blocked: deployment freeze by {names}")
        for s in self.statuses:
            left = (
                "no data" if s.budget_remaining is None else f"{s.budget_remaining:.1%} budget left"
            )
            lines.append(f"  {s.slo.name}: {s.decision.action.label} ({left})")
            lines.extend(f"    {reason}" for reason in s.decision.reasons)
        return "\n".join(lines)


def evaluate(statuses: Sequence[SLOStatus]) -> GateResult:
    return GateResult(tuple(statuses))
