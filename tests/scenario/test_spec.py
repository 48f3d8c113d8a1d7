"""Scenario files: each mistake refused with file, line and field; the shipped ones valid."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

import slolab.slo as slo_pkg
from slolab.cli import main
from slolab.scenario.spec import ScenarioError, json_schema, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.yaml"))
SLOS = slo_pkg.load(ROOT / "slos.yaml")

GOOD = """\
name: good
lesson: an outage pages
duration: 5m
load:
  - shape: steady
    users: 5
faults:
  - at: 30s
    service: tasks
    set: {error_rate: 1}
    for: 3m
expect:
  must_fire:
    - alert: SLOErrorBudgetBurnPage
      slo: tasks-availability
      within: 90s
  must_not_fire:
    - {alert: SLOErrorBudgetBurnPage, slo: tasks-latency}
  budget:
    - {slo: tasks-availability, min_percent: 1, max_percent: 10}
"""


ADJUST = """\
adjustments:
  - at: 1m
    reason: migration
    for: 2m
    slos: [tasks-uptime]
    services: [tasks]
expect:"""


def _edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def test_the_good_file_parses_into_the_model():
    sc = parse_scenario(GOOD, SLOS, "good.yaml")
    assert sc.duration == timedelta(minutes=5)
    assert sc.faults[0].settings == {"error_rate": 1.0}
    assert sc.faults[0].end == timedelta(seconds=210)
    page = sc.alerts[0]
    # bounds count from the first fault; the severity is the alert's own
    assert (page.origin, page.within, page.severity) == (
        timedelta(seconds=30),
        timedelta(seconds=90),
        "critical",
    )
    assert sc.budgets[0].at_least == pytest.approx(0.01)


# (edit of GOOD, line, field, words in the message)
CASES = {
    "unknown key": (_edit("lesson:", "lessons: x\nlesson:"), 2, "lessons", "unknown field"),
    "unknown nested key": (_edit("    users: 5", "    users: 5\n    rps: 3"), 7, "load[0].rps",
                           "unknown field"),
    "unknown shape": (_edit("shape: steady", "shape: stampede"), 5, "load[0].shape", "stampede"),
    "shape that drives faults": (_edit("shape: steady", "shape: chaos"), 5, "load[0].shape",
                                 "chaos"),
    "unknown fault": (_edit("{error_rate: 1}", "{error_rat: 1}"), 10, "faults[0].set.error_rat",
                      "unknown field"),
    "fault the service lacks": (_edit("{error_rate: 1}", "{model_drift: true}"), 10,
                                "faults[0].set.model_drift", "tasks has no fault"),
    "fault out of range": (_edit("{error_rate: 1}", "{error_rate: 2}"), 10,
                           "faults[0].set.error_rate", "less than or equal to 1"),
    "no fault set": (_edit("{error_rate: 1}", "{}"), 10, "faults[0].set", "names no fault"),
    "unknown service": (_edit("service: tasks", "service: billing"), 9, "faults[0].service",
                        "billing"),
    "bad duration": (_edit("for: 3m", "for: three minutes"), 11, "faults[0].for",
                     "not a duration"),
    "fault past the end": (_edit("for: 3m", "for: 5m"), 11, "faults[0].for",
                           "past the scenario's end"),
    "fault overlapping itself": (
        _edit("    for: 3m\n", "    for: 3m\n  - {at: 1m, service: tasks, set: {error_rate: 0.5},"
              " for: 1m}\n"), 12, "faults[1].at", "overlaps itself"),
    "unknown SLO": (_edit("slo: tasks-availability\n", "slo: tasks-avail\n"), 15,
                    "expect.must_fire[0].slo", "unknown SLO 'tasks-avail'"),
    "unknown alert": (_edit("alert: SLOErrorBudgetBurnPage\n", "alert: Paged\n"), 14,
                      "expect.must_fire[0].alert", "'Paged' is not one of"),
    "wrong severity": (_edit("within: 90s", "within: 90s\n      severity: warning"), 17,
                       "expect.must_fire[0].severity", "has severity critical"),
    "bound shorter than any detection": (_edit("within: 90s", "within: 30s"), 16,
                                         "expect.must_fire[0].within", "can never hold"),
    "bound past the end": (_edit("within: 90s", "within: 10m"), 16,
                           "expect.must_fire[0].within", "past the scenario's end"),
    "fires and must not fire": (_edit("slo: tasks-latency}", "slo: tasks-availability}"), 18,
                                "expect.must_not_fire[0].alert", "contradicts"),
    "budget bounds crossed": (_edit("min_percent: 1, max_percent: 10", "min_percent: 5, "
                                    "max_percent: 2"), 20, "expect.budget[0].min_percent",
                              "can never hold"),
    "budget out of reach": (_edit("min_percent: 1, max_percent: 10", "min_percent: 50"), 20,
                            "expect.budget[0].min_percent", "spends 11.6%"),
    "first phase not at 0": (_edit("  - shape: steady", "  - at: 10s\n    shape: steady"), 5,
                             "load[0].at", "starts at 0s"),
    "invalid YAML": (_edit("duration: 5m", "duration: [5m"), 4, None, "invalid YAML"),
    "adjustment past the end": (_edit("expect:", ADJUST.replace("for: 2m", "for: 5m")), 15,
                                "adjustments[0].for", "past the scenario's end"),
    "adjustment of an unknown SLO": (_edit("expect:", ADJUST.replace("tasks-uptime", "uptime")),
                                     16, "adjustments[0].slos[0]", "unknown SLO 'uptime'"),
    "adjustment of an unknown service": (_edit("expect:", ADJUST.replace("[tasks]", "[billing]")),
                                         17, "adjustments[0].services[0]", "'billing'"),
    "adjustment without a reason": (_edit("expect:", ADJUST.replace("migration", "''")), 14,
                                    "adjustments[0].reason", "at least 1 character"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=str)
def test_each_mistake_names_file_line_and_field(case: str):
    text, line, field, words = CASES[case]
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, SLOS, "bad.yaml")
    problems = err.value.problems
    where = f"bad.yaml:{line}: " + (f"{field}: " if field else "")
    assert any(p.startswith(where) and words in p for p in problems), problems


def test_an_adjustment_covers_its_slos_and_every_slo_of_its_services():
    text = _edit("expect:", ADJUST.replace("slos: [tasks-uptime]", "slos: [model-freshness]"))
    sc = parse_scenario(text, SLOS)
    (adj,) = sc.adjustments
    assert (adj.start, adj.end, adj.reason) == (timedelta(minutes=1), timedelta(minutes=3),
                                                "migration")  # fmt: skip
    tasks = [s.name for s in SLOS if s.service == "tasks"]
    assert set(adj.slos) == {*tasks, "model-freshness"}
    assert sc.adjusted("tasks-availability") == (adj,) and sc.adjusted("predictor-uptime") == ()
    everything = parse_scenario(_edit("expect:", ADJUST.replace("    slos: [tasks-uptime]\n", "")
                                      .replace("    services: [tasks]\n", "")), SLOS)  # fmt: skip
    assert set(everything.adjustments[0].slos) == {s.name for s in SLOS}


def test_every_problem_is_reported_at_once():
    text = _edit("for: 3m", "for: 5m").replace("slo: tasks-latency}", "slo: nope}")
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, SLOS, "bad.yaml")
    assert len(err.value.problems) == 2


def test_the_file_name_is_the_scenario_name(tmp_path: Path):
    path = tmp_path / "other.yaml"
    path.write_text(GOOD)
    with pytest.raises(ScenarioError, match=r"other.yaml:1: name: 'good' must be the file's"):
        load_scenario(path, SLOS)


def test_check_exits_2_and_nothing_runs(tmp_path: Path, capsys):
    path = tmp_path / "good.yaml"
    path.write_text(_edit("for: 3m", "for: 5m"))
    assert main(["scenario", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:11: faults[0].for: ends at 5m30s" in err and "nothing runs" in err
    path.write_text(GOOD)
    assert main(["scenario", "check", str(path)]) == 0


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_are_valid_and_match_the_schema(path: Path):
    load_scenario(path, SLOS)
    schema = json.loads((SCENARIOS / "scenario.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(YAML(typ="safe").load(path.read_text()))


def test_the_schema_file_is_current():
    """Regenerate with: .venv/bin/python -c 'from slolab.scenario.spec import json_schema;
    print(json_schema(), end="")' > scenarios/scenario.schema.json"""
    assert (SCENARIOS / "scenario.schema.json").read_text() == json_schema()


def test_the_schema_catches_what_an_editor_should():
    schema = json.loads((SCENARIOS / "scenario.schema.json").read_text())
    doc = YAML(typ="safe").load(_edit("{error_rate: 1}", "{error_rat: 1}"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(doc)


def test_at_least_eight_shipped_and_listed(capsys):
    assert len(SHIPPED) >= 8
    assert main(["scenario", "list"]) == 0
    out = capsys.readouterr().out
    assert all(p.stem in out for p in SHIPPED) and "INVALID" not in out
