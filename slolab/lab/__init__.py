"""The native lab behind ``make lab``: every component as a local process."""

from slolab.lab.config import LabConfig, Ports
from slolab.lab.runner import Lab, LabError, fast_config
from slolab.lab.webhook import AlertReceiver, Notification

__all__ = ["AlertReceiver", "Lab", "LabConfig", "LabError", "Notification", "Ports", "fast_config"]
