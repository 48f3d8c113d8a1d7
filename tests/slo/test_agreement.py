"""status, report and trends against one real Prometheus: the same figures, the same span.

Six hours of synthetic traffic (bench.rulecost's generator) are backfilled into a
TSDB, the aggregates the generated rules record are backfilled through
``promtool tsdb create-blocks-from rules`` as they would have been recorded, and
Prometheus then runs the generated fast and period groups (every second). The
three commands must agree on the period SLI and budget, and say that it covers
six hours of a 30-day period.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.rulecost import Prom, derive_series, synthetic_spec, write_openmetrics
from slolab.slo import conventions as c
from slolab.slo import promql
from slolab.slo.durations import parse_duration
from slolab.slo.generate.rules import rule_groups
from slolab.slo.model import from_spec
from slolab.slo.query import Prometheus
from slolab.slo.report.analysis import build
from slolab.slo.spec import parse_spec
from slolab.slo.status import collect
from slolab.slo.trends import analyse

pytestmark = [
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("promtool")),
        reason="needs prometheus and promtool",
    ),
    pytest.mark.slow,
]
HOURS = 6


def _rules(path: Path, groups: list[dict], interval: str | None = None) -> Path:
    import yaml

    for g in groups:
        if interval:
            g["interval"] = interval
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def _wait(pred, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := pred():
            return value
        time.sleep(0.5)
    raise AssertionError("Prometheus never recorded the period figures")


def test_status_report_and_trends_agree(tmp_path: Path) -> None:
    (slo,) = from_spec(parse_spec(synthetic_spec(1), "agreement.yaml"))
    # A second period (periods: [30d, 1d]): every reader must pick its own period's
    # series out of two (slo_window), or the figures below would mix them.
    slo = replace(slo, extra_periods=(timedelta(days=1),))
    # On the aggregates' 5-minute grid: promtool 2.42's rule importer wrote no block at
    # all for some ranges off that grid (a minute-aligned end failed 4 minutes in 5).
    step = int(parse_duration(c.AGGREGATE_INTERVAL).total_seconds())
    end = int(time.time()) // step * step
    start = end - HOURS * 3600
    data = tmp_path / "data"
    data.mkdir()
    (om,) = write_openmetrics(derive_series([slo]), start, 1, tmp_path, per_file=HOURS * 3600)
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                    str(om), str(data)], check=True, capture_output=True, timeout=120)  # fmt: skip
    fast, aggregates, period = rule_groups(slo.service, [slo])
    prom = Prom(data, tmp_path / "prometheus.yml")
    prom.set_rules([])
    prom.start()
    try:
        # The aggregates' history, as the 5m group would have recorded it: in two
        # passes, since the backfill evaluates each rule over the stored data only.
        events = {**aggregates, "rules": aggregates["rules"][:1]}
        stamps = {**aggregates, "rules": aggregates["rules"][1:]}
        for index, group in enumerate((events, stamps)):
            blocks = tmp_path / f"blocks-{index}"
            subprocess.run(
                ["promtool", "tsdb", "create-blocks-from", "rules", "--quiet",
                 f"--url={prom.url}", f"--start={start}", f"--end={end}",
                 f"--output-dir={blocks}", str(_rules(tmp_path / f"pass-{index}.yml", [group]))],
                check=True, capture_output=True, timeout=120)  # fmt: skip
            prom.stop()
            for block in blocks.iterdir():
                shutil.move(str(block), data / block.name)
            if index == 0:
                prom.start()
        prom.set_rules([_rules(tmp_path / "live.yml", [fast, period], interval="1s")])
        prom.start()
        with Prometheus(prom.url) as client:
            # recorded for a few seconds already: the report reads it at a whole second
            coverage = promql.period_recorded(slo, c.RULE_PERIOD_COVERAGE)
            _wait(lambda: client.value(coverage, time.time() - 3))
            budget = promql.period_recorded(slo, c.RULE_BUDGET_REMAINING)
            _wait(lambda: client.value(budget) is not None)
            now = datetime.now(UTC)
            status = collect(client, [slo])[0]
            report = build(client, [slo], end=now).slos[0]
            trend = analyse(client, slo, "1h", HOURS, end=now)
    finally:
        prom.stop()

    last = trend.points[-1].budget_remaining
    assert status.budget_remaining is not None and report.budget_remaining is not None
    assert last is not None
    # The same budget, whichever way it was computed (aggregates vs raw increases).
    assert abs(status.budget_remaining - report.budget_remaining) < 0.02
    assert abs(status.budget_remaining - last) < 0.02
    assert status.sli == pytest.approx(report.sli, abs=2e-5)
    # And all three say it covers six hours of the 30-day period.
    span = timedelta(hours=HOURS)
    spans = {"status": timedelta(seconds=status.coverage or 0), "report": report.span,
             "trends": trend.span}  # fmt: skip
    for name, covered in spans.items():
        assert covered is not None and abs(covered - span) <= timedelta(minutes=10), (name, spans)
    assert status.partial and report.partial and trend.partial
    # The day's figures: six hours of history too, so the same budget, on their own rows.
    (day_status,) = status.periods
    (day_report,) = report.periods
    assert day_status.window == "1d" and day_report.slo.period == timedelta(days=1)
    assert day_status.budget_remaining is not None and day_report.budget_remaining is not None
    assert abs(day_status.budget_remaining - day_report.budget_remaining) < 0.02
    assert abs(day_status.budget_remaining - status.budget_remaining) < 0.02
    assert abs(timedelta(seconds=day_status.coverage or 0) - span) <= timedelta(minutes=10)
