"""HISTORY=…: the generated past, its backfill, and what `slo status` then shows.

The live test backfills three days (the same code path as 30) into a real
lab and compares every SLO's period SLI and budget left with what the
generated history says they must be.
"""

from __future__ import annotations

import functools
import re
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest

from slolab.lab import binaries, history
from slolab.lab.backfill import group_step, rule_levels, wanted_series
from slolab.lab.config import LabConfig, Ports, repo_root
from slolab.lab.procs import free_port
from slolab.lab.runner import Lab, fast_config
from slolab.slo import load
from slolab.slo.budget import remaining_budget
from slolab.slo.model import SLO, SampleSLI
from slolab.slo.query import Prometheus
from slolab.slo.status import collect

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

END = 1_795_000_000.0  # a fixed instant: the generator is deterministic


def test_traffic_follows_the_day_and_incidents_cost_budget() -> None:
    past = history.generate(END, timedelta(days=30))
    assert sum(past.on_grid) == 30 * 24 * 12
    # Around the counters' incidents every 15 s, as the lab scrapes (the alerts' windows).
    dense = [b - a for a, b in zip(past.times, past.times[1:], strict=False) if b - a < 300]
    assert dense and set(dense) == {15.0}
    per_hour = {}
    for t, n in zip(past.times, past.requests["tasks"], strict=True):
        per_hour.setdefault(int(t // 3600 % 24), []).append(n)
    night, afternoon = sum(per_hour[3]), sum(per_hour[15])
    assert afternoon > 2.5 * night, (night, afternoon)
    assert len(past.incidents) == len(history.INCIDENTS)
    # Every 30-day SLO has spent part of its budget, none all of it.
    for slo in load(repo_root() / "slos.yaml"):
        ratio = history.expected_error_ratio(past, slo, slo.period)
        left = remaining_budget(1 - ratio, slo.objective)
        if slo.name != "model-freshness":
            assert 0 < left < 1, (slo.name, left)


# A week of lab starts, every 3 hours from a Monday 00:00 UTC: the incidents land on
# busier or quieter hours and days, so what they cost depends on when the lab starts.
WEEK_OF_STARTS = [1_795_392_000.0 + hours * 3600 for hours in range(0, 7 * 24, 3)]


@functools.cache  # two tests read it
def _budget_left_at_start() -> dict[str, list[float]]:
    """Budget left of every 30-day SLO after 30 days of history, per start of the week."""
    slos = [s for s in load(repo_root() / "slos.yaml") if s.period == timedelta(days=30)]
    left: dict[str, list[float]] = {s.name: [] for s in slos}
    for end in WEEK_OF_STARTS:
        past = history.generate(end, timedelta(days=30))
        for s in slos:
            ratio = history.expected_error_ratio(past, s, s.period)
            left[s.name].append(remaining_budget(1 - ratio, s.objective))
    return left


def test_no_lab_start_begins_with_an_exhausted_budget() -> None:
    # Exhausted at the start, SLOBreach would ticket the moment the lab is up.
    for name, lefts in _budget_left_at_start().items():
        assert min(lefts) > 0 and max(lefts) < 1, (name, min(lefts), max(lefts))


def _percent(value: float) -> str:
    return f"{5 * round(value * 20):d}%"


def test_docs_state_the_budget_the_history_leaves() -> None:
    """docs/lab.md lists, per 30-day SLO, the budget left at the start (to 5%)."""
    text = (repo_root() / "docs" / "lab.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^- `([a-z-]+)`: (-?\d+%(?: to -?\d+%)?)$", text, re.MULTILINE))
    expected = {}
    for name, lefts in _budget_left_at_start().items():
        low, high = _percent(min(lefts)), _percent(max(lefts))
        expected[name] = low if low == high else f"{low} to {high}"
    assert listed == expected


def test_short_history_keeps_only_incidents_inside_it() -> None:
    past = history.generate(END, timedelta(days=3))
    assert {i.ago <= timedelta(days=3) for i in past.incidents} == {True}
    assert past.incidents, "the 3-day test history needs an incident too"


def test_openmetrics_files_one_per_day_with_eof(tmp_path: Path) -> None:
    past = history.generate(END, timedelta(days=2))
    files = history.write_openmetrics(past, tmp_path)
    assert 2 <= len(files) <= 3  # two days of steps span three calendar days at most
    text = next(iter(files.values())).read_text()
    assert text.endswith("# EOF\n")
    assert "# TYPE flask_http_request_duration_seconds_bucket unknown" in text
    line = next(x for x in text.splitlines() if x.startswith("probe_success{"))
    assert line.split()[1] in {"1.0", "0.0"}


def test_rule_levels_follow_dependencies() -> None:
    groups = [
        {"name": "g", "rules": [
            {"record": "a:raw", "expr": "sum(rate(x[5m]))"},
            {"record": "b:mid", "expr": "a:raw / 2"},
            {"record": "c:top", "expr": "1 - b:mid"},
            {"record": "unused", "expr": "sum(y)"},
            {"alert": "A", "expr": "c:top > 1"},
        ]},
    ]  # fmt: skip
    assert rule_levels(groups, {"c:top"}) == [{"a:raw"}, {"b:mid"}, {"c:top"}]


def test_every_probe_slo_has_a_generated_probe() -> None:
    # An SLO whose series the history lacks never gets period figures after the backfill.
    text = "".join(
        f.read_text() for f in history.write_openmetrics(
            history.generate(END, timedelta(days=1)), Path(tempfile.mkdtemp())
        ).values()
    )  # fmt: skip
    for slo in load(repo_root() / "slos.yaml"):
        if isinstance(slo.sli, SampleSLI) and slo.sli.kind == "probe":
            job = slo.sli.source.split('job="')[1].split('"')[0]
            assert f'probe_success{{job="{job}"' in text, slo.name
    past = history.generate(END, timedelta(days=30))
    uptime = next(s for s in load(repo_root() / "slos.yaml") if s.name == "predictor-uptime")
    assert history.expected_error_ratio(past, uptime, timedelta(days=30)) == (
        pytest.approx(2 / sum(past.on_grid))  # its 10-minute incident: two failed steps
    )


def test_backfill_steps_follow_each_group_interval() -> None:
    # The aggregates count each event once only at their own interval; faster groups
    # are backfilled at the 5-minute lookback.
    assert group_step({"name": "agg", "interval": "5m"}) == timedelta(minutes=5)
    assert group_step({"name": "slow", "interval": "10m"}) == timedelta(minutes=10)
    assert group_step({"name": "fast", "interval": "30s"}) == timedelta(minutes=5)
    assert group_step({"name": "default"}) == timedelta(minutes=5)


def test_wanted_series_include_budget_and_shortest_windows() -> None:
    names = wanted_series(load(repo_root() / "slos.yaml"))
    assert {"slo:period_error_budget_remaining:ratio", "slo:period_coverage:seconds"} <= names
    assert {"slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate1m"} <= names


def test_history_variable_is_parsed_and_bounded() -> None:
    assert LabConfig.from_env({"HISTORY": "30d"}).history == timedelta(days=30)
    assert LabConfig.from_env({}).history is None
    with pytest.raises(ValueError, match="HISTORY"):
        LabConfig.from_env({"HISTORY": "a month"})
    with pytest.raises(ValueError, match="35d"):
        LabConfig.from_env({"HISTORY": "90d"})


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_status_after_backfill_matches_the_generated_history(tmp_path: Path) -> None:
    if binaries.missing():
        pytest.skip("needs prometheus, promtool, alertmanager (.ci/run installs them)")
    ports = {name: free_port() for name in Ports().as_dict()}
    cfg = fast_config(
        tmp_path / "lab", ports, history=timedelta(days=3), blackbox=False, dashboard=False,
        extra_env={"OTEL_SDK_DISABLED": "true", "LOG_LEVEL": "WARNING", "MONGO_URL": ""},
        # The committed group intervals, as `make lab` runs them: a 5-minute aggregate
        # evaluated every 2 s would count the history's last minutes 150 times over.
        evaluation_interval=None,
    )  # fmt: skip
    slos = load(repo_root() / "slos.yaml")
    with Lab(cfg, echo=print) as lab, Prometheus(lab.url("prometheus")) as prom:
        deadline = time.monotonic() + 180
        while True:
            statuses = {s.slo.name: s for s in collect(prom, slos)}
            if all(s.has_data and s.budget_remaining is not None for s in statuses.values()):
                break
            assert time.monotonic() < deadline, {n: s.sli for n, s in statuses.items()}
            time.sleep(2)
        # The history ends where the lab starts: what it put in is what status shows.
        end = lab.history_end
        past = history.generate(end, timedelta(days=3))
        for slo in slos:
            window = min(slo.period, timedelta(days=3))
            expected = history.expected_error_ratio(past, slo, window)
            got = statuses[slo.name]
            assert got.sli is not None and got.budget_remaining is not None
            print(f"{slo.name}: SLI expected {1 - expected:.5f} got {got.sli:.5f}; budget "
                  f"expected {remaining_budget(1 - expected, slo.objective):.3f} "
                  f"got {got.budget_remaining:.3f}")  # fmt: skip
            # A few live minutes (no load, no probe) and increase()'s extrapolation
            # at the history's edges: within 2% of the budget.
            assert got.budget_remaining == pytest.approx(
                remaining_budget(1 - expected, slo.objective), abs=0.02
            ), slo.name
            # The backfilled aggregates' timestamps: the figures cover the history there is.
            assert got.coverage == pytest.approx(window.total_seconds(), abs=900), slo.name
        # The recorded budget series is backfilled too, a sample within every lookback:
        # the burn-down has a past, and any query step finds it.
        first = prom.query_range(
            'slo:period_error_budget_remaining:ratio{slo="tasks-availability"}',
            end - 2.5 * 86400,
            end - 2 * 86400,
            timedelta(seconds=317),
        )
        assert first and all(v is not None for _, v in first[0].points), (
            "no backfilled budget",
            prom.query('count by (__name__) ({__name__=~"slo:.*"})', end - 2.2 * 86400),
            prom.query("prometheus_tsdb_blocks_loaded"),
        )


def test_history_command_rejects_a_bad_length(tmp_path: Path, capsys) -> None:
    from slolab.cli import main

    assert main(["history", "--length", "forever", "--out", str(tmp_path / "h")]) == 2
    assert "HISTORY must be a duration" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_history_command_writes_blocks_for_compose(tmp_path: Path) -> None:
    if binaries.missing():
        pytest.skip("needs prometheus and promtool (.ci/run installs them)")
    from slolab.cli import main

    out = tmp_path / "history-tsdb"
    assert main(["history", "--length", "1d", "--out", str(out)]) == 0
    blocks = [p for p in out.iterdir() if (p / "meta.json").is_file()]
    assert blocks, list(out.iterdir())
    assert not (tmp_path / ".history-tsdb-work").exists()  # scratch removed


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_backfilled_history_holds_the_alerts_the_simulator_predicts(tmp_path: Path) -> None:
    """`slo incidents` over a backfilled past lists each planted incident's alerts, as
    `slo simulate` predicts them for the incident's error ratio and duration.

    promtool's rule importer records no alerting rules: without the replayed
    ALERTS a month of history showed "No page or ticket fired".
    """
    from datetime import UTC, datetime

    from slolab.lab.backfill import Tools, backfill
    from slolab.slo.incidents import episodes
    from slolab.slo.simulate import simulate
    from tests.slo.backfill import serve_tsdb

    if binaries.missing():
        pytest.skip("needs prometheus, promtool, alertmanager (.ci/run installs them)")
    # Three days plant two incidents: the tasks probe blocked for 15 minutes, the
    # predictor's model drifting for an hour (half its feedback wrong).
    length = timedelta(days=3)
    past = history.generate(END, length)
    files = history.write_openmetrics(past, tmp_path / "om")
    rules = sorted((repo_root() / "prometheus" / "rules").glob("slo-*.yml"))
    slos = {s.name: s for s in load(repo_root() / "slos.yaml")}

    def longest(slo: SLO, alert: str) -> timedelta:
        return max(c.long for p in slo.alert_policies if p.alert == alert
                   for c in p.conditions)  # fmt: skip

    tools = Tools("promtool", "prometheus", tmp_path / "work", echo=print)
    backfill(files, tmp_path / "data", rules, wanted_series(slos.values()), past.times[0],
             past.end, tools)  # fmt: skip
    start, end = (datetime.fromtimestamp(t, UTC) for t in (past.times[0], past.end))
    with serve_tsdb(tmp_path / "data", tmp_path) as url, Prometheus(url) as prom:
        got = episodes(prom, list(slos.values()), start, end)
        no_data = _no_data_where_scraped_live(prom, rules, past)
    # SLOSLINoData is not replayed: where the history is sampled as the lab scrapes
    # (every 15 s, around incidents) a live Prometheus evaluating it finds every SLI
    # measured at every evaluation; between incidents the 5-minute samples stand for
    # the same continuous scrape, which the generator writes for every series.
    assert no_data == [], no_data
    hit = {"probe": "tasks-uptime", "drift": "predictor-accuracy"}
    expected = []
    for inc in past.incidents:
        # Sampled as the history samples it: probes on its grid, counters every 15 s.
        scrape = history.STEP if inc.kind == "probe" else history.DENSE_STEP
        sim = simulate(slos[hit[inc.kind]], [inc.ratio], inc.duration, scrape)
        began = datetime.fromtimestamp(past.end - inc.ago.total_seconds(), UTC)
        before = length - inc.ago  # of history before the incident
        for timing in sim.rows[0].alerts:
            if timing.fires_after is not None:
                resolved = inc.duration + (timing.resolved_after or timedelta(0))
                # The simulator starts on a whole window of error-free traffic: here
                # only the probe is error-free between incidents (the model is 93%
                # right: 0.47x burn before the drift), and only on the windows that
                # fit in the history before the incident.
                fits = inc.kind == "probe" and (
                    longest(slos[hit[inc.kind]], timing.alert) <= before
                )
                expected.append((hit[inc.kind], timing.alert, began + timing.fires_after,
                                 began + resolved, fits))  # fmt: skip
    assert sorted((e.slo, e.alert) for e in got) == sorted((e[0], e[1]) for e in expected)
    assert any(e[4] for e in expected)
    for slo, alert, fires, resolves, fits in expected:
        if not fits:
            continue
        (ep,) = [e for e in got if (e.slo, e.alert) == (slo, alert)]
        # Within one evaluation: a live Prometheus runs its groups at other phases.
        slack = timedelta(seconds=30)
        print(slo, alert, ep.start - fires, (ep.end or end) - resolves)
        assert abs(ep.start - fires) <= slack, (slo, alert, ep.start, fires)
        assert ep.end is not None and abs(ep.end - resolves) <= slack, (slo, alert, ep.end)


def _no_data_where_scraped_live(
    prom: Prometheus, rule_files: list[Path], past: history.History
) -> list[tuple[str, float]]:
    """(SLO, time) of every evaluation of SLOSLINoData's expression that found an SLI
    unmeasured, over the stretches of ``past`` sampled every 15 s, at the alert's group
    interval. Its group's recording rules are inlined, those read over a range as
    subqueries at the group's interval: the raw series are read as a live Prometheus
    running the group would have read them."""
    import yaml

    from slolab.slo import conventions as c
    from slolab.slo.replay import group_interval, inline

    ranged = re.compile(r"(?P<sel>slo:[a-zA-Z0-9_:]*(?:\{[^{}]*\})?)\[(?P<window>[^\]:]+)\]")

    def live(group: dict) -> dict:
        """``group`` with its own recorded series read over a range as subqueries."""
        every = f"{group_interval(group).total_seconds():.0f}s"
        ours = {r["record"] for r in group["rules"] if "record" in r}

        def sub(m: re.Match[str]) -> str:
            if m["sel"].split("{")[0] not in ours:
                return m[0]
            return f"({inline(m['sel'], group)})[{m['window']}:{every}]"

        return {**group, "rules": [{**r, "expr": ranged.sub(sub, str(r["expr"]))}
                                   for r in group["rules"]]}  # fmt: skip

    found = []
    for path in rule_files:
        for group in yaml.safe_load(path.read_text())["groups"]:
            every = group_interval(group)
            for rule in group["rules"]:
                if rule.get("alert") != c.ALERT_NO_DATA:
                    continue
                expr = inline(str(rule["expr"]), live(group))
                for inc in past.incidents:
                    if inc.kind == "probe":  # a gauge: no dense stretch (history.DENSE_STEP)
                        continue
                    # The dense stretch, less the longest window NoData reads (5m).
                    began = past.end - (inc.ago + history.DENSE_AROUND).total_seconds() + 600
                    ended = (
                        past.end - (inc.ago - inc.duration - history.DENSE_AROUND).total_seconds()
                    )
                    for series in prom.query_range(expr, began, min(ended, past.end), every):
                        found += [(series.labels.get(c.LABEL_SLO, "?"), t)
                                  for t, v in series.points if v is not None]  # fmt: skip
    return found
