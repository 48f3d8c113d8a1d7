"""Grafana dashboards as code: service overviews and the SLO dashboard.

Built with grafana-foundation-sdk's typed builders and written to
``grafana/dashboards/*.json`` by ``slolab slo generate`` (this module's
:data:`OUTPUT` is one of the generator's outputs) or ``python -m slolab.dashboards``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dash

from slolab.dashboards.panels import JAEGER_UID, PROMETHEUS_UID
from slolab.dashboards.services import predictor_overview, tasks_overview
from slolab.dashboards.slo import slo_dashboard
from slolab.slo.generate.output import GenerateOptions, Output
from slolab.slo.model import SLO

__all__ = [
    "DASHBOARD_DIR",
    "JAEGER_UID",
    "OUTPUT",
    "PROMETHEUS_UID",
    "build",
    "panel_queries",
    "render",
    "to_json",
]

DASHBOARD_DIR = "grafana/dashboards"
_ROOT = Path(__file__).resolve().parents[2]

# file name -> (service it overviews, or None for every spec; builder taking the SLOs)
BUILDERS: dict[str, tuple[str | None, Callable[[Sequence[SLO]], dash.Dashboard]]] = {
    "slolab-tasks.json": ("tasks", tasks_overview),
    "slolab-predictor.json": ("predictor", predictor_overview),
    "slolab-slos.json": (None, slo_dashboard),
}


def build(slos: Sequence[SLO]) -> dict[str, dash.Dashboard]:
    """The dashboards of this spec, by file name.

    The SLO dashboard works for any spec; a demo service's overview is built only
    when the spec has SLOs of that service (a user's spec gets none of them).
    """
    services = {slo.service for slo in slos}
    return {
        name: builder(slos)
        for name, (service, builder) in BUILDERS.items()
        if service is None or service in services
    }


def to_json(board: dash.Dashboard) -> str:
    """Stable JSON text of a dashboard (what the committed file holds)."""
    return json.dumps(board, cls=JSONEncoder, indent=2, ensure_ascii=False) + "\n"


def render(slos: Sequence[SLO], options: GenerateOptions | None = None) -> Mapping[str, str]:
    """Repo-relative path -> file text, for the SLO generator."""
    del options  # dashboards do not depend on the generator's options
    return {f"{DASHBOARD_DIR}/{name}": to_json(board) for name, board in build(slos).items()}


def _panels(board: dash.Dashboard) -> Iterator[dash.Panel]:
    for panel in board.panels or []:
        if isinstance(panel, dash.RowPanel):
            yield from panel.panels or []
        else:
            yield panel


def panel_queries(slos: Sequence[SLO] | None = None) -> Iterator[tuple[str, str, str]]:
    """Yield (dashboard title, panel title, expr) for every query of every panel.

    Without ``slos`` the repository's ``slos.yaml`` is loaded. Exprs keep Grafana's
    variables (``$__rate_interval``, ``$__range``): substitute before running them.
    """
    if slos is None:
        from slolab.slo.model import load

        slos = load(_ROOT / "slos.yaml")
    for board in build(slos).values():
        for panel in _panels(board):
            for target in panel.targets or []:
                expr = getattr(target, "expr", None)
                if expr:
                    yield board.title or "", panel.title or "", expr


OUTPUT = Output(
    name="grafana-dashboards",
    render=render,
    description="Grafana dashboards: the SLO dashboard and the demo services' overviews",
)
