"""Figures of the reliability tests, collected for docs/reliability.md.

Set SLOLAB_RELIABILITY_FIGURES=path to append one JSON line per test run;
without it nothing is written.
"""

from __future__ import annotations

import json
import os

__all__ = ["record"]


def record(test: str, **figures: object) -> None:
    """Append this test's figures (only when SLOLAB_RELIABILITY_FIGURES is set)."""
    path = os.environ.get("SLOLAB_RELIABILITY_FIGURES")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({"test": test, **figures}) + "\n")
