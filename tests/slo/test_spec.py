"""The wire format, its strict loader and the model built from it."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

import slolab.slo as slo_pkg
from slolab.slo import conventions as c
from slolab.slo import promql
from slolab.slo.durations import format_duration, parse_duration
from slolab.slo.model import from_spec, scale_window
from slolab.slo.promql import le_matcher
from slolab.slo.spec import SpecError, load_spec, parse_spec
from tests.slo.specs import RESOURCE_SLOS

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent

SHIPPED = [
    "tasks-availability",
    "tasks-latency",
    "tasks-error-rate",
    "tasks-uptime",
    "predictor-availability",
    "predictor-uptime",
    "predictor-latency",
    "predictor-accuracy",
    "model-freshness",
]

GOOD = """\
version: 1
slos:
  - name: tasks-latency
    service: tasks
    description: fast
    owner: team
    sli:
      latency:
        histogram: flask_http_request_duration_seconds
        selector: job="tasks"
        buckets: [0.1, 0.5, 1]
        threshold_seconds: 0.5
    objective: 95
    review: {cadence: 90d, last_review: 2026-01-01}
"""


def _load(text: str) -> list:
    return from_spec(parse_spec(text), source="slos.yaml")


def test_an_unreadable_file_is_named(tmp_path: Path):
    with pytest.raises(SpecError, match=r"missing\.yaml: cannot read: No such file"):
        load_spec(tmp_path / "missing.yaml")


def test_shipped_file_loads_with_the_issue_slos():
    slos = slo_pkg.load(ROOT / "slos.yaml")
    assert [s.name for s in slos] == SHIPPED
    by_name = {s.name: s for s in slos}
    assert by_name["tasks-availability"].objective == 0.999
    assert by_name["tasks-availability"].error_budget == 0.001
    assert by_name["tasks-availability"].period == timedelta(days=30)
    assert by_name["tasks-error-rate"].period == timedelta(days=1)
    assert by_name["predictor-accuracy"].objective == 0.85
    assert by_name["predictor-latency"].sli.threshold_seconds == 0.2
    assert by_name["model-freshness"].sli.kind == "freshness"
    assert by_name["tasks-uptime"].sli.kind == "probe"
    # tasks requests by path come from the histogram's _count (the counter has no path)
    assert "flask_http_request_duration_seconds_count" in by_name["tasks-availability"].sli.total


def test_model_gives_promql_for_any_window():
    (slo,) = _load(GOOD)
    # total: only the instances that export the threshold bucket (mixed layouts)
    assert promql.total_events(slo, "7d") == (
        'sum(increase(flask_http_request_duration_seconds_count{job="tasks"}[7d]) '
        'and ignoring(le) increase(flask_http_request_duration_seconds_bucket{job="tasks", '
        'le=~"0[.]50*"}[7d]))'
    )
    assert 'le=~"0[.]50*"' in promql.good_events(slo, "7d")
    assert "[7d]" in promql.error_ratio(slo, "7d", func="increase")
    assert promql.slo_matchers(slo) == '{slo="tasks-latency",service="tasks"}'
    assert slo.review.next_review == date(2026, 4, 1)  # 90 days after Jan 1
    assert slo.review.due(date(2026, 4, 1)) and not slo.review.due(date(2026, 3, 31))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("threshold_seconds: 0.5", "threshold_seconds: 0.3"),
            "slos.yaml: slo 'tasks-latency': sli.latency.threshold_seconds: 0.3 is not a bucket "
            "boundary of flask_http_request_duration_seconds (buckets: 0.1 0.5 1)",
        ),
        (
            ("objective: 95", "objective: 100"),
            "slos.yaml: slo 'tasks-latency': objective: 100 leaves no error budget: an objective "
            "must be below 100 (percent)",
        ),
        (
            ("objective: 95", "objective: 0"),
            "slos.yaml: slo 'tasks-latency': objective: 0 must be a percentage above 0, e.g. 99.9",
        ),
        (
            ("    review:", "    period: 2d\n    review:"),
            "slos.yaml: slo 'tasks-latency': period: '2d' is not a supported period "
            "(30d, 28d, 7d, 1d)",
        ),
        (
            ("owner: team", "owner: team\n    team: x"),
            "slos.yaml: slo 'tasks-latency': team: unknown field",
        ),
        (
            ("    owner: team\n", ""),
            "slos.yaml: slo 'tasks-latency': owner: required field missing",
        ),
        (
            ("name: tasks-latency", "name: Tasks_Latency"),
            "slos.yaml: slo 'Tasks_Latency': name: String should match pattern "
            "'^[a-z][a-z0-9]*(-[a-z0-9]+)*$'",
        ),
        (
            ("last_review: 2026-01-01", "last_review: 2026-13-01"),
            "slos.yaml: slo 'tasks-latency': review.last_review: '2026-13-01' is not a date "
            "like 2026-01-31",
        ),
        (
            ("cadence: 90d", "cadence: quarterly"),
            "slos.yaml: slo 'tasks-latency': review.cadence: 'quarterly' is not a duration "
            "like 30d, 6h, 1h30m or 90s",
        ),
        (
            ('selector: job="tasks"', 'selector: job="tasks", le="0.5"'),
            "slos.yaml: slo 'tasks-latency': sli.latency.selector: must not match 'le': "
            "the threshold picks the bucket",
        ),
        (
            ("owner: team", "owner: team\n    owner: again"),
            "slos.yaml: line 7: invalid YAML: duplicate key 'owner'",
        ),
        (
            ("    objective: 95", "    labels: {slo: x}\n    objective: 95"),
            "slos.yaml: slo 'tasks-latency': labels: 'slo' is set by the generator and cannot "
            "be overridden",
        ),
        (
            ("owner: team", "owner: team\n    alerting: {min_events: 0}"),
            "slos.yaml: slo 'tasks-latency': alerting.min_events: Input should be greater than "
            "or equal to 1",
        ),
    ],
)
def test_errors_name_file_slo_and_field(change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(SpecError) as err:
        _load(GOOD.replace(old, new))
    assert str(err.value) == message


def test_any_histogram_with_its_buckets():
    text = (
        GOOD.replace("histogram: flask_http_request_duration_seconds", "histogram: other_seconds")
        .replace("buckets: [0.1, 0.5, 1]", "buckets: [0.3, 1]")
        .replace("threshold_seconds: 0.5", "threshold_seconds: 0.3")
    )
    (slo,) = _load(text)
    assert 'other_seconds_bucket{job="tasks", le=~"0[.]30*"}' in promql.good_events(slo, "1h")


def test_buckets_left_out_load_and_validate_warns(tmp_path, capsys):
    """The toolkit knows no histogram: without buckets the threshold is not checked."""
    from slolab.cli import main

    text = GOOD.replace("        buckets: [0.1, 0.5, 1]\n", "").replace(
        "threshold_seconds: 0.5", "threshold_seconds: 0.3"
    )
    (slo,) = _load(text)
    assert slo.sli.buckets is None
    spec = tmp_path / "slos.yaml"
    spec.write_text(text)
    assert main(["slo", "validate", "-f", str(spec)]) == 0
    err = capsys.readouterr().err
    assert "tasks-latency: threshold 0.3 s not checked against the buckets" in err


def test_duplicate_names_are_refused():
    body = GOOD.split("slos:\n", 1)[1]
    with pytest.raises(SpecError, match=r"slo 'tasks-latency': name: already used by slo #1"):
        _load(GOOD + body)


def test_an_slo_whose_page_can_never_fire_is_refused():
    with pytest.raises(SpecError) as err:
        _load(GOOD.replace("objective: 95", "objective: 80"))
    assert str(err.value).startswith(
        "slos.yaml: slo 'tasks-latency': objective: 80% leaves so much budget that no "
        "SLOErrorBudgetBurnPage condition can fire (14.4x burn needs an error ratio of 288%"
    )


@pytest.mark.parametrize(
    ("value", "regex"),
    [(0.5, "0[.]50*"), (1, "1([.]0+)?"), (10, "10([.]0+)?"), (0.005, "0[.]0050*")],
)
def test_le_matcher_accepts_both_prometheus_spellings(value, regex):
    import re

    assert le_matcher(value) == regex
    for spelled in {repr(float(value)), f"{value:g}"}:
        assert re.fullmatch(regex, spelled), spelled


@pytest.mark.parametrize(
    ("base", "period", "expected"),
    [("5m", "30d", "5m"), ("3d", "30d", "3d"), ("1h", "1d", "2m"), ("5m", "1d", "1m"),
     ("3d", "1d", "2h24m"), ("1h", "28d", "56m"), ("3d", "7d", "16h48m")],
)  # fmt: skip
def test_windows_scale_with_the_period(base, period, expected):
    scaled = scale_window(parse_duration(base), parse_duration(period))
    assert format_duration(scaled) == expected


def test_validate_examples():
    good = sorted((HERE / "validate" / "good").glob("*.yaml"))
    bad = sorted((HERE / "validate" / "bad").glob("*.yaml"))
    assert good and bad
    for path in good:
        assert slo_pkg.load(path), path
    for path in bad:
        expected = path.read_text().splitlines()[0].removeprefix("# error: ")
        with pytest.raises(SpecError) as err:
            slo_pkg.load(path)
        assert str(err.value) == expected.replace("{path}", str(path)), path


def test_the_policy_lives_in_the_slo_file():
    from slolab.slo.policy import DEFAULT_POLICY, Action

    (slo,) = _load(GOOD)
    assert slo.policy == DEFAULT_POLICY  # no `policy:`: the built-in one
    shipped = slo_pkg.load(ROOT / "slos.yaml")
    assert all(s.policy.rules == DEFAULT_POLICY.rules for s in shipped)  # written out there
    own = GOOD.replace(
        "slos:\n",
        "policy:\n  slos:\n    tasks-latency:\n      - action: review\n"
        "        when: {budget_remaining_at_most: 0.4}\nslos:\n",
        1,
    )
    (slo,) = _load(own)
    assert slo.policy.budget_threshold(Action.REVIEW) == 0.4
    assert slo.policy.budget_threshold(Action.FREEZE) is None


def test_budget_alerts_wait_for_a_share_of_the_period():
    """``policy: min_coverage`` (default 10%) holds the budget alerts on a short history."""
    from slolab.slo.generate.alerts import budget_alert_rules
    from slolab.slo.policy import DEFAULT_MIN_COVERAGE

    (slo,) = _load(GOOD)
    assert slo.policy.min_coverage == DEFAULT_MIN_COVERAGE == 0.1
    shipped = slo_pkg.load(ROOT / "slos.yaml")
    assert {s.policy.min_coverage for s in shipped} == {DEFAULT_MIN_COVERAGE}

    def thresholds(text: str) -> set[str]:
        slos = _load(text)
        exprs = [r["expr"] for r in budget_alert_rules(slos[0].service, slos)]
        assert {r["alert"] for r in budget_alert_rules(slos[0].service, slos)} == {
            c.ALERT_BUDGET_LOW, c.ALERT_BREACH}  # fmt: skip
        found = rf"{c.RULE_PERIOD_COVERAGE}{{[^}}]*}} >= ([\d.e+]+)"
        return {n for e in exprs for n in re.findall(found, e)}

    period = slo.period.total_seconds()
    assert thresholds(GOOD) == {f"{period * 0.1:.0f}"}
    half = GOOD.replace("slos:\n", "policy:\n  min_coverage: 0.5\nslos:\n", 1)
    assert thresholds(half) == {f"{period * 0.5:.0f}"}
    # per SLO rules keep the file's share
    own = GOOD.replace(
        "slos:\n",
        "policy:\n  min_coverage: 0.25\n  slos:\n    tasks-latency:\n      - action: review\n"
        "        when: {budget_remaining_at_most: 0.4}\nslos:\n",
        1,
    )
    assert _load(own)[0].policy.min_coverage == 0.25


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("policy:\n  slos:\n    nope: []\n", "slos.yaml: policy: slos: no SLO named nope"),
        (
            "policy:\n  default:\n    - action: pause\n      when: {budget_remaining_at_most: 0}\n",
            "slos.yaml: policy: default.0.action: Input should be 'notify', 'review' or 'freeze'",
        ),
        (
            "policy:\n  min_coverage: 1.5\n",
            "slos.yaml: policy: min_coverage: 1.5 is not a share of the period from 0 to 1, "
            "e.g. 0.1",
        ),
        (
            "policy:\n  min_coverage: 3d\n",
            "slos.yaml: policy: min_coverage: Input should be a valid number, "
            "unable to parse string as a number",
        ),
    ],
)
def test_a_bad_policy_names_the_field(policy: str, message: str):
    with pytest.raises(SpecError) as err:
        _load(GOOD.replace("slos:\n", policy + "slos:\n", 1))
    assert str(err.value) == message


def test_cpu_and_memory_slis_are_thresholds_on_process_metrics():
    cpu, memory = _load(RESOURCE_SLOS)
    assert (cpu.sli.kind, memory.sli.kind) == ("cpu", "memory")
    assert (cpu.sli.limit, cpu.sli.rate_window) == (0.8, timedelta(minutes=1))
    assert memory.sli.limit == 536870912
    assert cpu.sli.source == 'process_cpu_seconds_total{job="tasks"}'
    with pytest.raises(SpecError, match="max_cores"):
        _load(RESOURCE_SLOS.replace("max_cores: 0.8", "max_cores: 0"))
    with pytest.raises(SpecError, match="rate_window"):
        _load(RESOURCE_SLOS.replace("max_cores: 0.8", "max_cores: 0.8, rate_window: soon"))


@pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool")
def test_cpu_and_memory_rules_record_good_samples_in_promtool(tmp_path):
    from slolab.slo.generate import GenerateOptions
    from slolab.slo.generate.rules import OUTPUT

    for rel, text in OUTPUT.render(_load(RESOURCE_SLOS), GenerateOptions()).items():
        (tmp_path / Path(rel).name).write_text(text)
    # CPU: 0.5 core for 10 minutes, then 1.5 cores; memory: 256 MiB, then 1 GiB.
    test = {
        "rule_files": ["slo-tasks.yml"],
        "evaluation_interval": "30s",
        "tests": [{
            "interval": "15s",
            "input_series": [
                {"series": 'process_cpu_seconds_total{job="tasks",instance="a"}',
                 "values": "0+7.5x40 300+22.5x40"},
                {"series": 'process_resident_memory_bytes{job="tasks",instance="a"}',
                 "values": "268435456x40 1073741824x40"},
            ],
            "promql_expr_test": [
                {"expr": "slo:sli_good_sample:bool", "eval_time": "9m",
                 "exp_samples": [
                     {"labels": 'slo:sli_good_sample:bool{slo="tasks-cpu",service="tasks"}',
                      "value": 1},
                     {"labels": 'slo:sli_good_sample:bool{slo="tasks-memory",service="tasks"}',
                      "value": 1}]},
                {"expr": "slo:sli_good_sample:bool", "eval_time": "19m",
                 "exp_samples": [
                     {"labels": 'slo:sli_good_sample:bool{slo="tasks-cpu",service="tasks"}',
                      "value": 0},
                     {"labels": 'slo:sli_good_sample:bool{slo="tasks-memory",service="tasks"}',
                      "value": 0}]},
            ],
        }],
    }  # fmt: skip
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    proc = subprocess.run(["promtool", "test", "rules", "test.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_runbook_base_url_makes_links_absolute():
    base = "version: 1\nrunbook_base_url: https://github.com/acme/slolab/blob/main/\n"
    (slo,) = from_spec(parse_spec(GOOD.replace("version: 1\n", base)))
    assert (
        slo.runbook_url == "https://github.com/acme/slolab/blob/main/docs/runbooks.md#tasks-latency"
    )
    (plain,) = from_spec(parse_spec(GOOD))
    assert plain.runbook_url == "docs/runbooks.md#tasks-latency"
    with pytest.raises(SpecError, match="runbook_base_url: 'docs/' must be an absolute"):
        parse_spec(GOOD.replace("version: 1\n", "version: 1\nrunbook_base_url: docs/\n"))


def test_min_events_is_for_request_slis():
    probe = GOOD.replace(
        GOOD[GOOD.index("    sli:") : GOOD.index("    objective:")],
        "    sli:\n      probe: {selector: 'probe_success{job=\"x\"}'}\n"
        "    alerting: {min_events: 50}\n",
    )
    with pytest.raises(SpecError, match=r"slo 'tasks-latency': alerting.min_events: a probe SLI "
                       "counts evaluations or samples"):  # fmt: skip
        _load(probe)
    (slo,) = _load(GOOD.replace("owner: team", "owner: team\n    alerting: {min_events: 50}"))
    assert slo.min_events == 50
    assert "sum(increase(" in promql.window_events(slo, "1h")
    # day-long windows count from the aggregates (events/s x 300 s), never raw samples
    assert promql.window_events(slo, "3d").endswith("[3d])) * 300")


def test_several_periods_the_first_drives_the_alerts():
    (slo,) = _load(GOOD.replace("    review:", "    periods: [7d, 30d, 1d]\n    review:"))
    assert slo.period == timedelta(days=7)
    assert slo.periods == (timedelta(days=7), timedelta(days=30), timedelta(days=1))
    assert slo.short_window == timedelta(minutes=1)  # burn windows scale with the first only
    assert promql.window_matchers(slo) == '{slo="tasks-latency",service="tasks",slo_window=""}'
    assert promql.window_matchers(slo, timedelta(days=1)).endswith(',slo_window="1d"}')
    (one,) = _load(GOOD)
    assert one.periods == (timedelta(days=30),)
    assert promql.window_matchers(one) == promql.slo_matchers(one)
