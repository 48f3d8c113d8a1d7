"""Budget adjustments: the spec's checks, the windows and their PromQL, ``slolab slo adjust``.

What the generated rules do with them (no page, no budget spent) is proven by
promtool in tests/slo/promtool/adjustments.yml.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from slolab import cli
from slolab.lab.config import repo_root
from slolab.slo import adjustments
from slolab.slo.model import Adjustment, from_spec
from slolab.slo.promql import adjusted, adjustment_on
from slolab.slo.spec import SpecError, parse_spec

ROOT = repo_root()
SPEC = """\
version: 1
adjustments:
  - name: migration
    reason: planned database migration
    start: 2026-12-08T02:00:00Z
    duration: 1h
slos:
  - name: api
    service: api
    description: d
    owner: o
    sli: {ratio: {errors: 'http_total{code="500"}', total: http_total}}
    objective: 99.9
    review: {last_review: 2026-12-01}
  - name: web
    service: web
    description: d
    owner: o
    sli: {ratio: {errors: 'web_total{code="500"}', total: web_total}}
    objective: 99.9
    review: {last_review: 2026-12-01}
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("start: 2026-12-08T02:00:00Z", "start: 2026-12-08T02:00:00",
         "adjustment 'migration': start: 2026-12-08T02:00:00 needs a time zone, e.g. Z or "
         "+01:00"),
        ("start: 2026-12-08T02:00:00Z", "start: tomorrow",
         "adjustment 'migration': start: 'tomorrow' is not a time like 2026-12-08T02:00:00Z"),
        ("duration: 1h", "end: 2026-12-08T01:00:00Z",
         "adjustment 'migration': end 2026-12-08T01:00:00+00:00 is not after start"),
        ("duration: 1h", "duration: 1h\n    end: 2026-12-08T03:00:00Z",
         "adjustment 'migration': give exactly one of end or duration"),
        ("duration: 1h", "duration: 1h\n    every: 30m",
         "adjustment 'migration': every: 30m is not longer than the window itself"),
        ("duration: 1h", "duration: 1h\n    slos: [api, nope]",
         "adjustment 'migration': slos: no SLO named nope"),
        ("duration: 1h", "duration: 1h\n    services: [db]",
         "adjustment 'migration': services: no service named db"),
        ("duration: 1h", "duration: 1h\n    window: x",
         "adjustment 'migration': window: unknown field"),
        ("    duration: 1h\n", "    duration: 1h\n  - name: migration\n    reason: again\n"
         "    start: 2026-12-09T02:00:00Z\n    duration: 1h\n",
         "adjustment 'migration': name: already used by another adjustment"),
    ],
)  # fmt: skip
def test_bad_adjustments_are_named(old: str, new: str, message: str) -> None:
    assert old in SPEC
    with pytest.raises(SpecError) as exc:
        parse_spec(SPEC.replace(old, new))
    assert str(exc.value) == f"slos.yaml: {message}"


def test_an_adjustment_without_names_covers_every_slo() -> None:
    slos = from_spec(parse_spec(SPEC))
    assert [s.adjustments[0].name for s in slos] == ["migration", "migration"]
    only = from_spec(parse_spec(SPEC.replace("duration: 1h", "duration: 1h\n    services: [web]")))
    assert [len(s.adjustments) for s in only] == [0, 1]


START = datetime(2026, 12, 8, 2, tzinfo=UTC)  # 1796695200


@pytest.mark.parametrize(
    ("adjustment", "lookback", "expr"),
    [
        (Adjustment("a", "r", START, timedelta(hours=1)), timedelta(0),
         "(time() >= bool 1796695200) * (time() < bool 1796698800)"),
        # a 5m aggregate ending up to 5 minutes after the window still overlaps it
        (Adjustment("a", "r", START, timedelta(hours=1)), timedelta(minutes=5),
         "(time() >= bool 1796695200) * (time() < bool 1796699100)"),
        (Adjustment("a", "r", START, timedelta(hours=1), timedelta(days=7)), timedelta(0),
         "(time() >= bool 1796695200) * ((time() - 1796695200) % 604800 < bool 3600)"),
        # a lookback that reaches the next occurrence: on from the start for good
        (Adjustment("a", "r", START, timedelta(hours=1), timedelta(hours=2)),
         timedelta(hours=1), "(time() >= bool 1796695200)"),
    ],
)  # fmt: skip
def test_overlap_in_promql(adjustment: Adjustment, lookback: timedelta, expr: str) -> None:
    assert adjustment_on(adjustment, lookback) == expr


def test_several_adjustments_are_on_when_any_is() -> None:
    a = Adjustment("a", "r", START, timedelta(hours=1))
    b = Adjustment("b", "r", START + timedelta(days=1), timedelta(minutes=30))
    assert adjusted((a,)) == f"vector({adjustment_on(a)})"
    assert adjusted((a, b)) == f"vector(clamp_max({adjustment_on(a)} + {adjustment_on(b)}, 1))"


def test_recurring_windows_in_a_span() -> None:
    weekly = Adjustment("w", "r", START, timedelta(hours=1), timedelta(days=7))
    since = START + timedelta(days=7, minutes=30)  # inside the second occurrence
    got = weekly.windows(since, since + timedelta(days=14))
    assert got == [(START + timedelta(days=k), START + timedelta(days=k, hours=1))
                   for k in (7, 14, 21)]  # fmt: skip
    once = Adjustment("o", "r", START, timedelta(hours=1))
    assert once.windows(START + timedelta(hours=1), START + timedelta(hours=2)) == []


def test_cli_adds_lists_and_removes_keeping_the_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "slos.yaml"
    shutil.copy(ROOT / "slos.yaml", path)
    before = path.read_text()
    assert cli.main(["slo", "adjust", "add", "db-maintenance", "-f", str(path),
                     "--reason", "weekly database maintenance", "--start", "2026-12-08T02:00Z",
                     "--duration", "1h", "--every", "7d", "--service", "tasks"]) == 0  # fmt: skip
    text = path.read_text()
    assert text.startswith(before.split("slos:")[0].split("adjustments:")[0][:200])
    assert "# The SLOs of slolab" in text  # comments kept
    (slo,) = [s for s in from_spec(parse_spec(text)) if s.name == "tasks-availability"]
    assert slo.adjustments[0].every == timedelta(days=7)
    capsys.readouterr()
    assert cli.main(["slo", "adjust", "-f", str(path), "--days", "8"]) == 0
    out = capsys.readouterr().out
    assert (
        "db-maintenance: weekly database maintenance (1h, every 7d) for tasks-availability" in out
    )
    assert cli.main(["slo", "adjust", "remove", "db-maintenance", "-f", str(path)]) == 0
    assert path.read_text() == before


def test_cli_refuses_a_bad_adjustment_and_writes_nothing(tmp_path: Path, capsys) -> None:
    path = tmp_path / "slos.yaml"
    shutil.copy(ROOT / "slos.yaml", path)
    before = path.read_text()
    assert cli.main(["slo", "adjust", "add", "x", "-f", str(path), "--reason", "r",
                     "--start", "now", "--duration", "1h", "--slo", "nope"]) == 2  # fmt: skip
    assert "adjustment 'x': slos: no SLO named nope" in capsys.readouterr().err
    assert cli.main(["slo", "adjust", "add", "x", "-f", str(path), "--reason", "r",
                     "--start", "now"]) == 2  # fmt: skip
    assert "exactly one of --end or --duration" in capsys.readouterr().err
    assert cli.main(["slo", "adjust", "remove", "nope", "-f", str(path)]) == 2
    assert "no adjustment named 'nope'" in capsys.readouterr().err
    assert path.read_text() == before


def test_listing_marks_the_window_on_now() -> None:
    slos = from_spec(parse_spec(SPEC))
    lines = adjustments.listing(slos, START + timedelta(minutes=10), timedelta(days=7))
    assert lines == [
        "migration: planned database migration (1h) for api, web: "
        "2026-12-08 02:00 to 03:00 UTC (now)"
    ]


def test_report_leaves_the_planned_steps_out_and_lists_them() -> None:
    from slolab.slo.report.analysis import Report, analyse
    from slolab.slo.report.markdown import to_markdown

    (slo, _) = from_spec(parse_spec(SPEC))
    step, start = timedelta(hours=1), START - timedelta(hours=3)
    end = START + timedelta(hours=3)
    times = [(start + step * (k + 1)).timestamp() for k in range(6)]
    total = dict.fromkeys(times, 1000.0)
    good = dict.fromkeys(times, 1000.0)
    good[(START + step).timestamp()] = 0.0  # the migration's hour: every request failed
    r = analyse(slo, start, end, step, good, total)
    assert (r.good, r.total) == (5000.0, 5000.0)  # that hour counts neither way
    assert r.budget_remaining == 1.0 and not r.violations
    text = to_markdown(Report(end, "http://prometheus.test", (r,)))
    assert ("Budget adjustments (events left out): migration (planned database migration) "
            "2026-12-08 02:00 UTC to 2026-12-08 03:00 UTC") in text  # fmt: skip
    plain = from_spec(parse_spec(SPEC.replace("    duration: 1h\n", "    duration: 1h\n"
                                              "    slos: [web]\n")))[0]  # fmt: skip
    assert analyse(plain, start, end, step, good, total).violations


def test_the_slo_dashboard_shades_adjustments() -> None:
    import json

    import promql_parser

    doc = json.loads((ROOT / "grafana/dashboards/slolab-slos.json").read_text())
    (shade,) = [a for a in doc["annotations"]["list"] if a.get("name") == "Budget adjustments"]
    expr = shade["expr"].replace("$slo", ".+")
    promql_parser.parse(expr)  # what Grafana sends once the variable is filled in
    assert "slo:adjustment_active:bool" in expr and expr.endswith("> 0")
