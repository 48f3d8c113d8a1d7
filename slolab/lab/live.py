"""The lab's live SLO table: the toolkit's status view, refreshed until Ctrl-C."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from slolab.slo import load
from slolab.slo.cli.status_table import watch as watch_status
from slolab.slo.query import Prometheus
from slolab.slo.status import SLOStatus, collect

__all__ = ["watch"]


def watch(
    prometheus_url: str,
    *,
    check: Callable[[], None],
    console: Console,
    refresh: float = 5.0,
    slos_path: str | Path = "slos.yaml",
) -> None:
    """Redraw the status table every ``refresh`` seconds; ``check`` raises if the lab broke."""
    slos = load(slos_path)
    with Prometheus(prometheus_url) as prom:

        def fetch() -> list[SLOStatus]:
            check()  # a dead component stops the lab instead of showing stale numbers
            return collect(prom, slos)

        watch_status(fetch, refresh, console)
