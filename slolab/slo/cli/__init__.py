"""``slolab slo …``: argument parsing only; the work happens in the slolab.slo modules.

Two groups, by what a command needs: :mod:`.offline` reads the SLO file only
(validate, list, generate, reviews, simulate, diff), :mod:`.online` queries
Prometheus (status, gate, report, trends, query, incidents). What they share
(loading, filters, the Prometheus client, argument types) is in :mod:`.common`.
"""

from __future__ import annotations

import argparse

from slolab.slo.cli import offline, online

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add every ``slolab slo`` subcommand to ``subparsers``."""
    offline.register(subparsers)
    online.register(subparsers)
