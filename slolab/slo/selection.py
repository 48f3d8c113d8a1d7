"""Pick SLOs by service and name: what every command's --service/--slo filters do."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from slolab.slo.model import SLO

__all__ = ["select"]


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
