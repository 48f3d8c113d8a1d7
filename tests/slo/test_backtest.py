"""slo backtest: the replayed alerts agree with Prometheus's own rule manager on the same data.

The reference is ``promtool test rules`` (Prometheus's rule manager, ``for:``
and all) running the generated rules over the same series, each group at its
real interval (``at_own_intervals``, as tests/slo/test_rules.py's harness);
the backtest replays them against a Prometheus holding those series as blocks.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from slolab.cli import main
from slolab.slo import backtest
from slolab.slo import conventions as c
from slolab.slo.model import load
from slolab.slo.promtool import at_own_intervals
from tests.slo.backfill import backfilled_prometheus, needs_prometheus

SPEC = """\
version: 1
slos:
  - name: shop-availability
    service: shop
    description: 99.9% of shop requests succeed.
    owner: shop-team
    sli:
      ratio:
        errors: http_requests_total{job="shop", code=~"5.."}
        total: http_requests_total{job="shop"}
    objective: 99.9
    period: 30d
    review: {last_review: 2026-11-26}
"""
SCRAPE = 15
HOURS = 8
RATE = 10.0  # requests per second
# (start, end, error ratio) in seconds from the first sample: a 20-minute outage
# (a page), then 2% errors for 40 minutes (20x).
OUTAGES = ((7200, 8400, 1.0), (16200, 18600, 0.02))
EVALUATION = 30


def _series() -> dict[str, list[float]]:
    """Cumulative good (code 200) and bad (code 500) counts every SCRAPE seconds."""
    good, bad, g, b = [], [], 0.0, 0.0
    for k in range(HOURS * 3600 // SCRAPE + 1):
        good.append(g)
        bad.append(b)
        ratio = next((r for s, e, r in OUTAGES if s <= k * SCRAPE < e), 0.0)
        g += RATE * SCRAPE * (1 - ratio)
        b += RATE * SCRAPE * ratio
    return {'http_requests_total{job="shop",code="200"}': good,
            'http_requests_total{job="shop",code="500"}': bad}  # fmt: skip


_GOT = re.compile(r'expr: "(?P<expr>(?:[^"\\]|\\.)*)", time: .*?\n\s*exp:.*?\n\s*got: (?P<got>.*)')


def _rule_manager(groups: list[dict], tmp: Path) -> dict[str, tuple[float, float, float]]:
    """Per alert: its first and last firing evaluation and how many fired (seconds from 0)."""
    stop = HOURS * 3600
    series = [{"series": name, "values": " ".join(f"{v:g}" for v in values)}
              for name, values in _series().items()]  # fmt: skip
    tests, exprs = [], {}
    for alert in (c.ALERT_PAGE, c.ALERT_TICKET):
        sel = f'ALERTS{{alertname="{alert}",alertstate="firing"}}'
        for fn in ("min_over_time", "max_over_time", "count_over_time"):
            expr = f"{fn}(timestamp({sel})[{stop}s:{EVALUATION}s])"
            exprs[(alert, fn)] = expr
            tests.append({"expr": expr, "eval_time": f"{stop}s", "exp_samples": []})
    rules = {"groups": at_own_intervals(groups, EVALUATION)}
    (tmp / "rules.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    test = {"rule_files": ["rules.yml"], "evaluation_interval": f"{EVALUATION}s",
            "group_eval_order": [g["name"] for g in groups],
            "tests": [{"interval": f"{SCRAPE}s", "input_series": series,
                       "promql_expr_test": tests}]}  # fmt: skip
    (tmp / "test.yml").write_text(yaml.safe_dump(test, width=10**9), encoding="utf-8")
    proc = subprocess.run(["promtool", "test", "rules", "test.yml"], cwd=tmp,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    out = proc.stdout + proc.stderr
    assert "FAILED" in out, out[-2000:]  # every test expects nothing: each prints what it got
    values = {}
    for m in _GOT.finditer(out):
        got = m.group("got").strip()
        if got != "nil":
            values[m.group("expr").encode().decode("unicode_escape")] = float(
                got.rsplit(" ", 1)[-1]
            )
    return {alert: tuple(values[exprs[(alert, fn)]] for fn in
                         ("min_over_time", "max_over_time", "count_over_time"))
            for alert in (c.ALERT_PAGE, c.ALERT_TICKET)}  # fmt: skip


def test_a_spec_that_does_not_validate_is_an_error_before_any_query(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.replace("objective: 99.9", "objective: 120"))
    out = tmp_path / "bt.md"
    argv = ["slo", "backtest", "--prometheus", "http://127.0.0.1:9", "-o", str(out)]
    assert main([*argv, "-f", str(bad)]) == 2
    assert "objective" in capsys.readouterr().err
    good = tmp_path / "slos.yaml"
    good.write_text(SPEC)
    assert main([*argv, "-f", str(good), "--compare", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"--compare {bad}" in err and "objective" in err
    assert not out.exists()


@needs_prometheus
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_backtest_episodes_equal_the_rule_managers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "slos.yaml"
    spec.write_text(SPEC)
    (slo,) = load(spec)
    groups = [g for g in backtest.rule_groups([slo])]
    # Real time, a day-aligned start: groups evaluate on the same phases as promtool's.
    t0 = float(int(time.time() // 86400 - 2) * 86400)
    points = {name: [(t0 + k * SCRAPE, v) for k, v in enumerate(values)]
              for name, values in _series().items()}  # fmt: skip
    (tmp_path / "prom").mkdir()
    with backfilled_prometheus(tmp_path / "prom", points) as url:
        got = backtest.run(url, [slo], t0, t0 + HOURS * 3600, tmp_path / "work")
        end = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t0 + HOURS * 3600))
        argv = ["slo", "backtest", "-f", str(spec), "--prometheus", url, "--since", f"{HOURS}h",
                "--end", end, "--format", "json", "-o", str(tmp_path / "bt.json")]  # fmt: skip
        assert main(argv) == 0
        # Bad input: exit 2, what is missing and what was checked, no output file.
        out = tmp_path / "bad.md"
        argv[argv.index("-o") + 1] = str(out)
        assert main([*argv, "--since", "3d"]) == 2  # longer than the data held
        err = capsys.readouterr().err
        assert "shop-availability: no events in the first hour" in err
        assert "http_requests_total" in err and "retention is 400d" in err, err
        missing = tmp_path / "missing.yaml"
        missing.write_text(SPEC.replace('job="shop"', 'job="gone"'))
        argv[argv.index("-f") + 1] = str(missing)
        assert main(argv) == 2  # a Prometheus without the SLO's series
        err = capsys.readouterr().err
        assert 'job="gone"' in err and "last hour" in err, err
        assert not out.exists()
    (result,) = got.slos
    reference = _rule_manager(groups, tmp_path)
    for alert, (first, last, count) in reference.items():
        eps = [e for e in result.episodes if e.alert == alert]
        assert eps, alert
        print(alert, [(e.start - t0, (e.end or 0) - t0) for e in eps], (first, last, count))
        # Within one evaluation: the first firing, the last, and how many evaluations fired.
        assert abs(eps[0].start - t0 - first) <= EVALUATION, alert
        last_end = eps[-1].end if eps[-1].end is not None else got.end  # still firing
        assert abs(last_end - EVALUATION - t0 - last) <= EVALUATION, alert
        fired = sum(e.duration(got.end) for e in eps) / EVALUATION
        assert abs(fired - count) <= len(eps), (alert, fired, count)
    # The outage's page spent what the outage spent (the rest of the window is clean).
    page = next(e for e in result.episodes if e.alert == c.ALERT_PAGE)
    assert page.start - t0 < OUTAGES[1][0]
    # Bad events while it fired ÷ (budget x the events of the period ending with the
    # window: here all 8 hours of them).
    bad = (OUTAGES[0][1] - max(page.start - t0, OUTAGES[0][0])) * RATE
    assert page.budget_spent == pytest.approx(bad / (0.001 * HOURS * 3600 * RATE), rel=0.05)
    assert result.spent is not None
    assert sum(e.budget_spent or 0 for e in result.episodes if e.page) <= result.spent
    written = json.loads((tmp_path / "bt.json").read_text())
    assert len(written["backtest"]["slos"][0]["episodes"]) == len(result.episodes)


def _result(label: str, episodes: list[backtest.Episode], tmp: Path) -> backtest.Backtest:
    spec = tmp / f"{label}.yaml"
    spec.write_text(SPEC)
    (slo,) = load(spec)
    burn = [(3600.0 * h, 0.01 * h) for h in range(1, 9)]
    result = backtest.SLOBacktest(slo, episodes, [], [], 0.08, burn)
    return backtest.Backtest(label, "http://prom", 0.0, 8 * 3600.0, [result], {})


def test_compare_pairs_overlapping_episodes_and_renders_every_format(tmp_path: Path) -> None:
    page = backtest.Episode("shop-availability", c.ALERT_PAGE, c.SEVERITY_PAGE, 600, 1800, 0.02)
    later = backtest.Episode("shop-availability", c.ALERT_PAGE, c.SEVERITY_PAGE, 900, 2100, 0.03)
    extra = backtest.Episode("shop-availability", c.ALERT_PAGE, c.SEVERITY_PAGE, 9000, None, 0.001)
    old = _result("main:slos.yaml", [page], tmp_path)
    new = _result("slos.yaml", [later, extra], tmp_path)
    assert backtest.compare(old, new) == {"shop-availability": [(page, later), (None, extra)]}
    md = backtest.to_markdown(old, new)
    assert "| main:slos.yaml | duration | budget | slos.yaml |" in md
    assert "| — | — | — | page 1970-01-01 02:30 UTC → (firing at the end) |" in md
    html = backtest.to_html(old, new)
    assert html.count("<svg") == 2 and html.count('fill="#cf222e" fill-opacity') == 3
    body = json.loads(backtest.to_json(new))
    assert [e["end"] for e in body["backtest"]["slos"][0]["episodes"]] == [2100, None]
