"""Deployment gate: may we deploy now? No, while a policy freezes deploys for an SLO.

For CI/CD: ``slolab slo gate --service tasks`` exits 1 with the reasons when
any selected SLO's policy says freeze, 0 with a one-line summary per SLO
otherwise (errors reaching Prometheus exit 2, from the CLI).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slolab.slo.status import SLOStatus
from slolab.slo.views import percent

__all__ = ["GateResult", "evaluate"]


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
                "no data"
                if s.budget_remaining is None
                else f"{percent(s.budget_remaining, 1)} budget left"
            )
            lines.append(f"  {s.slo.name}: {s.decision.action.label} ({left})")
            lines.extend(f"    {reason}" for reason in s.decision.reasons)
        return "\n".join(lines)


def evaluate(statuses: Sequence[SLOStatus]) -> GateResult:
    return GateResult(tuple(statuses))
