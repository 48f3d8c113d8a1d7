"""SLO as code: one ``slos.yaml`` to rules, alerts, routes and dashboards.

``load()`` gives the SLOs as model objects (plain data); ``slolab.slo.promql``
writes their PromQL; ``slolab.slo.generate`` writes the outputs;
``slolab.slo.conventions`` holds every name they share.
"""

from slolab.slo.model import SLI, SLO, LatencySLI, RatioSLI, SampleSLI, SLIKind, load
from slolab.slo.spec import SpecError

__all__ = [
    "SLI",
    "SLO",
    "LatencySLI",
    "RatioSLI",
    "SLIKind",
    "SampleSLI",
    "SpecError",
    "load",
]
