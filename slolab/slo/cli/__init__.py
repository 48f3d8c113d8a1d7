"""``slolab slo …``: argument parsing only; the work happens in the slolab.slo modules.

Two groups, by what a command needs: :mod:`.offline` reads the SLO file only
(validate, list, generate, reviews, simulate, diff), :mod:`.online` queries
Prometheus (status, gate, report, trends, query, incidents). What they share
(loading, filters, the Prometheus client, argument types) is in :mod:`.common`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from slolab.slo.cli import offline, online

if TYPE_CHECKING:
    from slolab.slo.generate import Registry

__all__ = ["register"]


def register(
    subparsers: argparse._SubParsersAction, registry: Callable[[], Registry] | None = None
) -> None:
    """Add every ``slolab slo`` subcommand to ``subparsers``.

    ``registry`` makes the application's :class:`~slolab.slo.generate.Registry` for
    ``generate`` and ``diff`` (called only when they run); default: the toolkit's outputs.
    """
    offline.register(subparsers, registry)
    online.register(subparsers)
