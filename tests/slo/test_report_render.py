"""The report's renderers take the analysis result alone: SVG charts, and no Prometheus."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from slolab.slo.report.analysis import Report, analyse
from slolab.slo.report.svg import chart_svgs

END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STEP = timedelta(hours=1)


def _report(slo, with_data: list[int], steps: int = 12) -> Report:
    start = END - STEP * steps
    times = [start.timestamp() + STEP.total_seconds() * (i + 1) for i in range(steps)]
    total = {times[i]: 100.0 for i in with_data}
    good = {times[i]: 99.0 for i in with_data}
    return Report(END, "http://prometheus.test", (analyse(slo, start, END, STEP, good, total),))


def test_renderers_import_no_prometheus_client() -> None:
    """Markdown, HTML, SVG, incidents and the shared text import neither the query client
    nor httpx."""
    code = (
        "import sys\n"
        "import slolab.slo.report.markdown, slolab.slo.report.html\n"
        "import slolab.slo.report.svg, slolab.slo.report.text, slolab.slo.report.incidents\n"
        "print(sorted(m for m in sys.modules if m in ('httpx', 'slolab.slo.query')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sli_chart_breaks_at_steps_without_data(toolkit_slos) -> None:
    """A gap splits the SLI line; a lone step with data is a dot, not a line to nowhere."""
    report = _report(toolkit_slos[0], with_data=[0, 1, 2, 5, 8, 9, 10, 11])
    sli, budget = chart_svgs(report)[toolkit_slos[0].name]
    assert sli.count("<polyline") == 2 and sli.count("<circle") == 1
    # The budget line never has gaps: steps without data spend nothing.
    assert budget.count("<polyline") == 1 and "<circle" not in budget
    for chart in (sli, budget):
        width = float(re.search(r'<svg width="(\d+)"', chart).group(1))
        xs = [float(x) for pts in re.findall(r'points="([^"]+)"', chart)
              for x in re.findall(r"([\d.]+),", pts)]  # fmt: skip
        assert xs and all(0 <= x <= width for x in xs)


def test_chart_without_any_data_draws_the_objective_only(toolkit_slos) -> None:
    sli, _ = chart_svgs(_report(toolkit_slos[0], with_data=[]))[toolkit_slos[0].name]
    assert "<polyline" not in sli and "<circle" not in sli
    assert "objective" in sli and sli.endswith("</svg>")
