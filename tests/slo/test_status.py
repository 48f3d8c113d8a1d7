"""Status from recorded series, against a fake Prometheus; rendering and the CLI."""

from __future__ import annotations

import io
import math
from dataclasses import replace
from datetime import timedelta

import pytest
from rich.console import Console

from slolab.cli import main
from slolab.slo import conventions as c
from slolab.slo.cli.status_table import render, view, watch
from slolab.slo.gate import evaluate
from slolab.slo.policy import Action
from slolab.slo.query import Prometheus
from slolab.slo.status import collect
from slolab.slo.views import time_left
from tests.slo.fake_prometheus import alerts, vector


def recorded(series: dict[tuple[str, str], float], firing=()):
    """A route answering the status query with these recorded series and alerts."""

    def route(path, params):
        if path == "/api/v1/alerts":
            return alerts(*firing)
        assert "slo:sli_error:ratio_rate.+" in params["query"]
        items = [
            ({"__name__": name, "slo": slo, "service": "x"}, v) for (slo, name), v in series.items()
        ]
        return vector(*items)

    return route


HEALTHY_AND_BURNING = {
    # tasks-availability: 0.05% errors over the period, a fast burn right now
    ("tasks-availability", c.RULE_ERROR_RATIO_PERIOD): 0.0005,
    ("tasks-availability", c.RULE_BUDGET_REMAINING): 0.5,
    ("tasks-availability", "slo:sli_error:ratio_rate5m"): 0.02,
    ("tasks-availability", "slo:sli_error:ratio_rate1h"): 0.0150,
    ("tasks-availability", "slo:sli_error:ratio_rate6h"): 0.003,
    # tasks-latency: all good
    ("tasks-latency", c.RULE_ERROR_RATIO_PERIOD): 0.01,
    ("tasks-latency", c.RULE_BUDGET_REMAINING): 0.8,
    ("tasks-latency", "slo:sli_error:ratio_rate5m"): 0.0,
    ("tasks-latency", "slo:sli_error:ratio_rate1h"): 0.01,
    # model-freshness (1d): its "1h" window is recorded as 2m
    ("model-freshness", c.RULE_ERROR_RATIO_PERIOD): 0.02,
    ("model-freshness", c.RULE_BUDGET_REMAINING): -1.0,
    ("model-freshness", "slo:sli_error:ratio_rate2m"): 0.03,
    ("other-slo-not-in-file", c.RULE_BUDGET_REMAINING): 0.1,
}
PAGE = {"labels": {"alertname": c.ALERT_PAGE, "slo": "tasks-availability", "severity": "critical"}}
PENDING = {"labels": {"alertname": c.ALERT_TICKET, "slo": "tasks-latency"}, "state": "pending"}


def test_collect_reads_recorded_series_and_alerts(fake_prom, toolkit_slos) -> None:
    fake_prom.route = recorded(HEALTHY_AND_BURNING, [PAGE, PENDING])
    with Prometheus(fake_prom.url) as prom:
        statuses = {s.slo.name: s for s in collect(prom, toolkit_slos)}
    assert len(fake_prom.requests) == 2  # one query for all series, one for alerts
    avail = statuses["tasks-availability"]
    assert math.isclose(avail.sli, 0.9995)
    assert avail.budget_remaining == 0.5
    assert math.isclose(avail.burn_rates["5m"], 20.0)
    assert math.isclose(avail.burn_rates["1h"], 15.0)
    assert math.isclose(avail.burn_rates["6h"], 3.0)
    assert math.isclose(avail.burn_rates["period"], 0.5)
    assert avail.burn_rates["1d"] is None  # not recorded in this fake
    assert avail.alerts == (c.ALERT_PAGE,)
    assert avail.decision.action == Action.FREEZE  # fast burn over 1h and 5m
    assert avail.state == "at risk"
    # 50% left at 15x: 0.5 * 30d / 15 = 1 day
    assert avail.time_to_exhaustion == timedelta(days=1)

    latency = statuses["tasks-latency"]
    assert latency.alerts == ()  # pending alerts are not firing
    assert latency.state == "meeting"
    assert latency.decision.action == Action.NONE

    fresh = statuses["model-freshness"]
    assert math.isclose(fresh.burn_rates["1h"], 3.0)  # from ..._rate2m, scaled for 1 day
    assert fresh.state == "violating"
    assert fresh.time_to_exhaustion == timedelta(0)


def test_missing_series_show_as_no_data(fake_prom, toolkit_slos) -> None:
    fake_prom.route = recorded({})
    with Prometheus(fake_prom.url) as prom:
        statuses = collect(prom, toolkit_slos)
    assert {s.state for s in statuses} == {"no data"}
    assert all(s.decision.action == Action.NONE for s in statuses)


def test_budget_computed_when_the_remaining_series_is_missing(fake_prom, toolkit_slos) -> None:
    fake_prom.route = recorded({("tasks-availability", c.RULE_ERROR_RATIO_PERIOD): 0.002})
    with Prometheus(fake_prom.url) as prom:
        status = collect(prom, toolkit_slos[:1])[0]
    assert math.isclose(status.budget_remaining, -1.0)


def _text(renderable) -> str:
    console = Console(file=io.StringIO(), width=250, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def test_render_shows_every_column(fake_prom, toolkit_slos) -> None:
    fake_prom.route = recorded(HEALTHY_AND_BURNING, [PAGE])
    with Prometheus(fake_prom.url) as prom:
        out = _text(view(collect(prom, toolkit_slos)))
    line = next(line for line in out.splitlines() if "tasks-availability" in line)
    for cell in ("99.90%", "99.950%", "50.0%", "20.00x", "15.00x", "3.00x", "0.50x", "1d",
                 c.ALERT_PAGE, "freeze", "at risk"):  # fmt: skip
        assert cell in line, (cell, line)
    assert "fast burn" in out  # the policy reason below the table
    assert "scale with shorter periods" in out


def test_narrow_terminals_get_the_essential_columns_unsqueezed(fake_prom, toolkit_slos) -> None:
    fake_prom.route = recorded(HEALTHY_AND_BURNING, [PAGE])
    with Prometheus(fake_prom.url) as prom:
        statuses = collect(prom, toolkit_slos)
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(view(statuses, width=100))
    out = console.file.getvalue()
    line = next(line for line in out.splitlines() if "tasks-availability" in line)
    for cell in ("at risk", "99.90%", "50.0%", "20.00x", "15.00x", "PAGE"):
        assert cell in line, (cell, line)
    assert "policy" not in out.splitlines()[2] and "…" not in line


def test_time_left() -> None:
    assert time_left(None) == "never"
    assert time_left(timedelta(0)) == "exhausted"
    assert time_left(timedelta(seconds=42)) == "42s"
    assert time_left(timedelta(days=3, hours=4, minutes=5)) == "3d4h"
    assert time_left(timedelta(minutes=12, seconds=30)) == "12m"


def test_watch_refreshes_and_survives_errors(fake_prom, toolkit_slos) -> None:
    from slolab.slo.query import PrometheusError

    calls = []

    def fetch():
        calls.append(1)
        if len(calls) == 2:
            raise PrometheusError("Prometheus went away")
        with Prometheus(fake_prom.url) as prom:
            return collect(prom, toolkit_slos)

    fake_prom.route = recorded(HEALTHY_AND_BURNING)
    sleeps = []
    console = Console(file=io.StringIO(), width=250, color_system=None)
    watch(fetch, 5, console, iterations=3, sleep=sleeps.append)
    assert len(calls) == 3
    assert sleeps == [5, 5]
    assert "tasks-availability" in console.file.getvalue()


def test_cli_status(fake_prom, toolkit_slos_file, capsys) -> None:
    fake_prom.route = recorded(HEALTHY_AND_BURNING, [PAGE])
    code = main(["slo", "status", "--file", str(toolkit_slos_file), "--prometheus", fake_prom.url,
                 "--service", "tasks"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "tasks-availability" in out and "tasks-latency" in out
    assert "model-freshness" not in out


def test_cli_status_prometheus_from_environment(fake_prom, toolkit_slos_file, monkeypatch, capsys):
    monkeypatch.setenv("PROMETHEUS_URL", fake_prom.url)
    fake_prom.route = recorded(HEALTHY_AND_BURNING)
    assert main(["slo", "status", "--file", str(toolkit_slos_file)]) == 0
    assert "model-freshness" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (lambda p, q: (400, {"status": "error", "errorType": "bad_data", "error": "parse error"}),
         "refused the query: bad_data: parse error"),
        (lambda p, q: (503, "Service Unavailable"), "HTTP 503"),
    ],
)  # fmt: skip
def test_cli_status_prometheus_errors_exit_2_with_one_line(
    fake_prom, toolkit_slos_file, capsys, route, message
) -> None:
    fake_prom.route = route
    code = main(["slo", "status", "--file", str(toolkit_slos_file), "--prometheus", fake_prom.url])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert err.startswith("slolab: error: ")


def test_cli_status_unknown_slo(fake_prom, toolkit_slos_file, capsys) -> None:
    code = main(["slo", "status", "-f", str(toolkit_slos_file), "--prometheus", fake_prom.url,
                 "--slo", "nope"])  # fmt: skip
    assert code == 2
    assert "slo: unknown nope (known: tasks-availability" in capsys.readouterr().err


def test_render_empty() -> None:
    assert "SLO" in _text(render([]))


def test_status_says_what_the_period_figures_cover(fake_prom, toolkit_slos) -> None:
    """Aggregates three hours old: the SLI is "over 3h", not over 30 days."""
    series = {
        ("tasks-availability", c.RULE_ERROR_RATIO_PERIOD): 0.0005,
        ("tasks-availability", c.RULE_PERIOD_COVERAGE): 3 * 3600.0,
        ("tasks-latency", c.RULE_ERROR_RATIO_PERIOD): 0.01,
        ("tasks-latency", c.RULE_PERIOD_COVERAGE): 30 * 86400.0,
    }
    fake_prom.route = recorded(series)
    with Prometheus(fake_prom.url) as prom:
        statuses = {s.slo.name: s for s in collect(prom, toolkit_slos)}
    avail, latency = statuses["tasks-availability"], statuses["tasks-latency"]
    assert avail.coverage == 10800 and avail.partial
    assert latency.coverage == 30 * 86400 and not latency.partial
    out = io.StringIO()
    Console(file=out, width=200).print(view(list(statuses.values())))
    text = out.getvalue()
    row = next(line for line in text.splitlines() if "tasks-availability" in line)
    assert " 3h " in row
    assert "tasks-availability: period figures cover the last 3h of its 30d" in text


def test_a_fresh_history_holds_the_budget_rules_and_the_gate(fake_prom, toolkit_slos) -> None:
    """Ten minutes of data and one failure: budget "exhausted", but no freeze yet."""
    series = {
        ("tasks-availability", c.RULE_ERROR_RATIO_PERIOD): 0.01,
        ("tasks-availability", c.RULE_PERIOD_COVERAGE): 600.0,
        ("tasks-latency", c.RULE_ERROR_RATIO_PERIOD): 0.5,
        ("tasks-latency", c.RULE_PERIOD_COVERAGE): 4 * 86400.0,  # past the 10%: decides
    }
    fake_prom.route = recorded(series)
    with Prometheus(fake_prom.url) as prom:
        statuses = {s.slo.name: s for s in collect(prom, toolkit_slos)}
    fresh, old = statuses["tasks-availability"], statuses["tasks-latency"]
    assert fresh.budget_remaining is not None and fresh.budget_remaining < 0
    assert not fresh.decision.freezes_deploys
    assert fresh.decision.reasons[0].startswith("freeze held: error budget exhausted")
    assert old.decision.freezes_deploys
    gate = evaluate([fresh])
    assert gate.allowed and "freeze held" in gate.summary()
    assert not evaluate([fresh, old]).allowed


def test_policy_windows_from_the_aggregates(fake_prom, toolkit_slos) -> None:
    """A policy on the 1d window (not recorded) reads it from the aggregates."""
    from slolab.slo.policy import parse_policies

    policies = parse_policies(
        "default:\n  - action: review\n    when: {burn_rate_at_least: 2, windows: [1d]}\n"
    )

    def route(path, params):
        if "sum_over_time" in params.get("query", ""):
            assert "[1d]" in params["query"]
            items = [({"slo": "tasks-availability", "events": "errors"}, 3.0),
                     ({"slo": "tasks-availability", "events": "total"}, 1000.0)]  # fmt: skip
            return vector(*items)
        return recorded({})(path, params)

    fake_prom.route = route
    with Prometheus(fake_prom.url) as prom:
        status = collect(prom, toolkit_slos[:1], policies)[0]
    assert math.isclose(status.burn_rates["1d"], 3.0)  # 0.3% errors / 0.1% budget
    assert status.decision.action == Action.REVIEW


BLOWN = {
    **HEALTHY_AND_BURNING,
    # Two minutes of a full outage over a fresh lab: the figures the issue saw cut.
    ("tasks-availability", c.RULE_ERROR_RATIO_PERIOD): 0.48319,
    ("tasks-availability", c.RULE_BUDGET_REMAINING): -482.18,
    ("tasks-availability", "slo:sli_error:ratio_rate5m"): 1.0,
    ("tasks-availability", "slo:sli_error:ratio_rate1h"): 1.0,
}


def test_80_columns_show_whole_values_in_fewer_columns(fake_prom, toolkit_slos) -> None:
    ticket = {"labels": {"alertname": c.ALERT_TICKET, "slo": "tasks-availability"}}
    fake_prom.route = recorded(BLOWN, [PAGE, ticket])
    with Prometheus(fake_prom.url) as prom:
        statuses = collect(prom, toolkit_slos)
    console = Console(file=io.StringIO(), width=80, color_system=None)
    console.print(view(statuses, width=80))
    out = console.file.getvalue()
    assert "…" not in out, out
    line = next(line for line in out.splitlines() if "tasks-availability" in line)
    for cell in ("violating", "51.681%", "-48218.0%", "1000.00x", "PAGE,"):
        assert cell in line, (cell, line)
    lines = out.splitlines()
    # Both alerts whole: on the row, or "ticket" wrapped onto the next line.
    assert "ticket" in line or "ticket" in lines[lines.index(line) + 1], out
    assert max(len(x) for x in out.splitlines()) <= 80


def test_watch_without_a_terminal_prints_plain_lines_each_refresh(fake_prom, toolkit_slos) -> None:
    fake_prom.route = recorded(HEALTHY_AND_BURNING, [PAGE])

    def fetch():
        with Prometheus(fake_prom.url) as prom:
            return collect(prom, toolkit_slos)

    console = Console(file=io.StringIO(), width=80, force_terminal=False)
    watch(fetch, 5, console, iterations=2, sleep=lambda _: None)
    lines = console.file.getvalue().splitlines()
    rows = [x for x in lines if " tasks-availability " in x]
    assert len(rows) == 2, lines  # one line per SLO per refresh, written as it happens
    assert "\x1b" not in console.file.getvalue()
    stamp, *_ = rows[0].split()
    assert stamp.endswith("Z") and "T" in stamp  # ISO 8601
    for cell in ("state=at-risk", "sli=99.950%", "budget=50.0%", "burn_1h=15.00x",
                 f"alerts={c.ALERT_PAGE}"):  # fmt: skip
        assert cell in rows[0], (cell, rows[0])


@pytest.mark.parametrize("width", [80, 100])
def test_a_short_history_keeps_its_over_column_and_the_alerts_whole(toolkit_slos, width) -> None:
    from slolab.slo.policy import Facts
    from slolab.slo.status import SLOStatus

    rates = {"5m": 20.0, "1h": 15.0, "period": 0.5}
    statuses = [
        SLOStatus(slo, 0.9995, -0.123, rates, (c.ALERT_PAGE,),
                  slo.policy.evaluate(Facts(-0.123, rates)), 5 * 3600)
        for slo in toolkit_slos
    ]  # fmt: skip
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(view(statuses, width=width))
    out = console.file.getvalue()
    header = next(line for line in out.splitlines() if "SLO" in line and "state" in line)
    line = next(line for line in out.splitlines() if "tasks-availability" in line)
    assert "over" in header, header
    for cell in ("99.950%", "5h", "-12.3%", "15.00x", "PAGE"):
        assert cell in line, (cell, line)
    assert "…" not in out


def test_several_periods_a_row_each_the_first_decides(fake_prom, toolkit_slos) -> None:
    """`periods: [30d, 7d]`: the 7d figures and budget alerts on a row of their own."""
    slo = replace(toolkit_slos[0], extra_periods=(timedelta(days=7),))
    series = [
        ({"__name__": c.RULE_ERROR_RATIO_PERIOD}, 0.0005),
        ({"__name__": c.RULE_BUDGET_REMAINING}, 0.5),
        ({"__name__": "slo:sli_error:ratio_rate1h"}, 0.0150),
        ({"__name__": c.RULE_ERROR_RATIO_PERIOD, c.LABEL_WINDOW: "7d"}, 0.002),
        ({"__name__": c.RULE_BUDGET_REMAINING, c.LABEL_WINDOW: "7d"}, -1.0),
        ({"__name__": c.RULE_PERIOD_COVERAGE, c.LABEL_WINDOW: "7d"}, 86400.0),
    ]
    breach = {"labels": {"alertname": c.ALERT_BREACH, "slo": slo.name, c.LABEL_WINDOW: "7d"}}

    def route(path, params):
        if path == "/api/v1/alerts":
            return alerts(PAGE, breach)
        return vector(*(({**labels, "slo": slo.name}, v) for labels, v in series))

    fake_prom.route = route
    with Prometheus(fake_prom.url) as prom:
        (status,) = collect(prom, [slo])
    # the first period decides (and keeps the SLO's burn alerts) ...
    assert status.budget_remaining == 0.5 and status.alerts == (c.ALERT_PAGE,)
    # 50% left: notify; the 7d budget (spent) would freeze
    assert status.decision.action == Action.NOTIFY
    (week,) = status.periods
    # ... the week has its own figures, budget alert and coverage
    assert week.window == "7d" and week.slo.period == timedelta(days=7)
    assert math.isclose(week.sli, 0.998) and week.budget_remaining == -1.0
    assert math.isclose(week.burn_rates["period"], 2.0) and week.alerts == (c.ALERT_BREACH,)
    assert week.partial and week.state == "violating"
    assert evaluate([status]).statuses == (status,)  # the gate sees the SLO once
    out = _text(view([status]))
    row = next(line for line in out.splitlines() if f"{slo.name} (7d)" in line)
    for cell in ("99.800%", "-100.0%", "2.00x", c.ALERT_BREACH, "violating", "1d"):
        assert cell in row, (cell, row)
    assert f"{slo.name}: period figures cover the last 1d of its 7d" in out
