"""The dashboard's game-day view: the running scenario's scorecard, from its state file.

``slolab scenario run --state FILE`` (and ``make lab SCENARIO=NAME``) keep the
live scorecard in a JSON file; ``GET /api/gameday`` serves it to the page
(static/gameday.js draws the timeline and the table). Kept apart from the
dashboard's SLO views: this module and its script are all there is of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI

__all__ = ["add_gameday_routes"]

NONE: dict[str, Any] = {"scenario": None, "running": False}


def read_state(path: Path | None) -> dict[str, Any]:
    """The state file's scorecard; ``NONE`` when there is no game day (yet)."""
    if path is None:
        return NONE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return NONE
    except (OSError, ValueError) as exc:  # a file being replaced is never half-read
        return {**NONE, "error": f"cannot read {path}: {exc}"}
    return doc if isinstance(doc, dict) else NONE


def add_gameday_routes(app: FastAPI, state_path: Path | None) -> None:
    @app.get("/api/gameday")
    def api_gameday() -> dict[str, Any]:
        return read_state(state_path)
