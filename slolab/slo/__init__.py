"""SLO as code: one ``slos.yaml`` to rules, alerts, routes and dashboards.

``load()`` gives the SLOs as model objects; ``slolab.slo.generate`` writes the
outputs; ``slolab.slo.conventions`` holds every name they share.
"""

from slolab.slo.model import SLI, SLO, LatencySLI, RatioSLI, SampleSLI, load
from slolab.slo.spec import SpecError

__all__ = ["SLI", "SLO", "LatencySLI", "RatioSLI", "SampleSLI", "SpecError", "load"]
