"""`slolab scenario capacity`: the stop logic on fake readings, then once live (slow)."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench.capacity import scraping
from slolab.cli import main
from slolab.errors import CLIError
from slolab.lab.procs import run_service
from slolab.scenario.capacity import Load, Plan, find_capacity, to_json, to_markdown, to_svg

ROOT = Path(__file__).resolve().parents[2]


def _fake(burns: list[float | None], delivered: float = 1.0):  # type: ignore[no-untyped-def]
    """A generator that delivers ``delivered`` of each rate; the SLO reads ``burns`` in turn."""
    offered: list[float] = []
    readings = iter(burns)

    def drive(rate: float, seconds: float) -> Load:
        offered.append(rate)  # as if for 10 s (the steps themselves last a few ms)
        return Load(round(rate * 10 * delivered), 10.0, 2.0, 9.0 + rate / 10, 0)

    cpu = iter(range(100))
    return offered, drive, lambda start, end: next(readings), lambda: {"tasks": float(next(cpu))}


def test_the_highest_rate_before_the_first_burn_above_1x_is_the_capacity():
    offered, drive, burn, cpu = _fake([0.1, 0.4, 0.99, 1.3, 0.2])
    lines: list[str] = []
    result = find_capacity(Plan(step=50, max_rate=500, step_seconds=0.01), drive, burn, cpu,
                           "tasks-latency", lines.append)  # fmt: skip
    assert offered == [50, 50, 100, 150, 200]  # a warm-up; stopped at the first burn above 1x
    assert result.capacity == 150
    assert [s.held for s in result.steps] == [True, True, True, False]
    assert result.stopped == "burn 1.30x > 1x at 200 req/s"
    assert all(v is not None and v > 0 for s in result.steps for v in s.cpu.values())
    assert lines[0].startswith("warm-up: 50 req/s")
    assert lines[1].startswith("step 1/10: 50 req/s") and "held" in lines[2]


def test_no_capacity_when_the_first_step_burns():
    _, drive, burn, cpu = _fake([2.0])
    result = find_capacity(Plan(step=100, max_rate=300, step_seconds=0.01), drive, burn, cpu, "x")
    assert result.capacity is None and len(result.steps) == 1
    assert "none (the first step did not hold)" in to_markdown(result)


def test_a_rate_not_delivered_or_not_measured_does_not_hold():
    _, drive, burn, cpu = _fake([0.1, 0.1], delivered=0.5)
    result = find_capacity(Plan(step=10, max_rate=30, step_seconds=0.01), drive, burn, cpu, "x")
    assert result.capacity is None and result.stopped == "only 5 of 10 req/s delivered"
    _, drive, burn, cpu = _fake([0.1, None])
    result = find_capacity(Plan(step=10, max_rate=30, step_seconds=0.01), drive, burn, cpu, "x")
    assert result.capacity == 10 and result.stopped.startswith("no SLO reading at 20 req/s")


def test_every_step_held_up_to_the_max_rate():
    _, drive, burn, cpu = _fake([0.1] * 3)
    result = find_capacity(Plan(step=10, max_rate=35, step_seconds=0.01), drive, burn, cpu, "x")
    assert result.capacity == 30 and result.stopped == "max rate reached, the SLO held"
    assert "| 30 | 30 |" in to_markdown(result)
    ET.fromstring(to_svg(result))  # well-formed SVG
    assert '"capacity_rps": 30' in to_json(result)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--slo", "nope"], "--slo: no SLO named 'nope'"),
        (["--slo", "tasks-latency", "--step", "0"], "must be above 0"),
        (["--slo", "tasks-latency", "--start", "900", "--max-rate", "100"], "above --max-rate"),
        (["--slo", "tasks-latency", "--service", "tasks"], "expected NAME=URL"),
    ],
)
def test_bad_options_are_named_before_any_load(argv, message, capsys, monkeypatch):
    monkeypatch.setattr("slolab.scenario.capacity.find_capacity", pytest.fail)
    assert main(["scenario", "capacity", "--slos", str(ROOT / "slos.yaml"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_plan_rates():
    assert Plan(step=100, max_rate=350).rates() == [100, 200, 300]
    assert Plan(step=50, max_rate=200, start=100).rates() == [100, 150, 200]
    with pytest.raises(CLIError):
        Plan(step=-1).rates()


needs_tools = pytest.mark.skipif(
    not (shutil.which("wrk") and shutil.which("prometheus")), reason="needs wrk and prometheus"
)


@needs_tools
@pytest.mark.slow  # a real tasks server and Prometheus
def test_live_against_tasks_and_prometheus(tmp_path: Path, capsys):
    """Three short steps against a real tasks service scraped by a real Prometheus."""
    with (
        run_service("tasks", tmp_path / "tasks") as tasks,
        scraping({"tasks": tasks.url}, tmp_path) as prometheus,
    ):
        code = main(["scenario", "capacity", "--slo", "tasks-availability",
                     "--slos", str(ROOT / "slos.yaml"), "--url", f"{tasks.url}/api/tasks",
                     "--prometheus", prometheus, "--service", f"tasks={tasks.url}",
                     "--step", "20", "--max-rate", "60", "--step-duration", "3",
                     "--settle", "2", "--warmup", "3", "--connections", "4",
                     "--output", str(tmp_path / "out")])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "Capacity under tasks-availability: 60 req/s" in out
    assert "step 3/3: 60 req/s offered" in err  # the progress line
    rows = [line for line in out.splitlines() if line.strip().endswith("held")]
    assert len(rows) == 3 and all("0.00x" in r for r in rows), out
    report = (tmp_path / "out" / "capacity-tasks-availability.json").read_text()
    assert '"capacity_rps": 60' in report and '"tasks": null' not in report
    assert (tmp_path / "out" / "capacity-tasks-availability.html").read_text().count("<svg") == 2
