"""The native lab behind ``make lab``: every component as a local process.

The names below are imported on first use, so that ``slolab.lab.webhook`` (the
``slolab alert-receiver`` container) does not load the runner and its console.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slolab.lab.config import LabConfig, Ports
    from slolab.lab.runner import Lab, LabError, fast_config
    from slolab.lab.webhook import AlertReceiver, Notification

__all__ = ["AlertReceiver", "Lab", "LabConfig", "LabError", "Notification", "Ports", "fast_config"]

_HOMES = {
    "AlertReceiver": "webhook",
    "Lab": "runner",
    "LabConfig": "config",
    "LabError": "runner",
    "Notification": "webhook",
    "Ports": "config",
    "fast_config": "runner",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value  # once: later lookups skip this function
    return value
