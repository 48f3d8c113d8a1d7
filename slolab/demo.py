"""What the demo adds to the generic SLO toolkit: its dashboards and its alert receiver.

``slolab.slo`` works for any user's services and knows nothing of this demo; the
``slolab`` command passes :func:`registry` to ``slolab slo``, so that ``slolab slo
generate`` on the demo's ``slos.yaml`` also writes the Grafana dashboards and
points Alertmanager's webhook at the compose service ``alert-receiver``.
"""

from __future__ import annotations

from slolab.contract import ALERT_RECEIVER_URL
from slolab.slo.generate import Registry

__all__ = ["registry"]


def registry() -> Registry:
    """The demo's generator outputs and defaults, for ``plan(..., registry=registry())``."""
    from slolab.dashboards import OUTPUT as DASHBOARDS  # grafana SDK: imported when needed

    return Registry(extra=(DASHBOARDS,), defaults={"webhook_url": ALERT_RECEIVER_URL})
