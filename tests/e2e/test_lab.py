"""End-to-end: the native lab with real Prometheus and Alertmanager.

The tests share one lab (see conftest) and run in file order; each one also
stands on its own.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time

import pytest

from slolab.lab.config import repo_root
from tests.e2e.conftest import E2E, TWIN

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAGE = "SLOErrorBudgetBurnPage"


def _firing(e2e: E2E, slo: str) -> bool:
    expr = f'ALERTS{{alertname="{PAGE}", slo="{slo}", alertstate="firing"}}'
    return bool(e2e.query(expr))


def _wait(pred, timeout: float, step: float = 0.5) -> float | None:
    """Seconds until ``pred()`` held, or None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if pred():
            return round(time.monotonic() - started, 1)
        time.sleep(step)
    return None


@pytest.mark.timeout(420)
def test_full_outage_pages_and_recovery_resolves(e2e: E2E) -> None:
    # Traffic must be in Prometheus first: the SLI needs a denominator.
    ratio = 'slo:sli_error:ratio_rate5m{slo="tasks-availability"}'
    assert e2e.wait_value(ratio, lambda v: v == 0, timeout=90) is not None, (
        f"no healthy {ratio} after 90s; traffic: {dict(e2e.traffic.counts)}"
    )
    assert not _firing(e2e, "tasks-availability"), "page firing before any fault"

    e2e.fault("tasks", error_rate=1.0)
    on, on_wall = time.monotonic(), time.time()
    try:
        in_prom = _wait(lambda: _firing(e2e, "tasks-availability"), timeout=150)
        assert in_prom is not None, "SLOErrorBudgetBurnPage never fired in Prometheus"
        note = e2e.receiver.wait_for(
            lambda n: n.has(status="firing", alertname=PAGE, slo="tasks-availability"),
            timeout=max(1.0, 150 - (time.monotonic() - on)),
        )
        assert note is not None, "Alertmanager never delivered the page to the webhook"
        paged = round(note.received_at - on_wall, 1)
        # The twin (1-day windows) pages as well; it is the one that resolves quickly.
        twin_note = e2e.receiver.wait_for(
            lambda n: n.has(status="firing", alertname=PAGE, slo=TWIN), timeout=60
        )
        assert twin_note is not None, f"{TWIN} never paged"
        assert note.has(severity="critical")
        e2e.figures.update(page_in_prometheus_s=in_prom, paged_s=paged)
        print(f"\nfault on -> alert firing in Prometheus {in_prom}s, page delivered {paged}s")
        assert paged <= 120, f"paged after {paged}s (target: 2 min)"
    finally:
        e2e.fault("tasks", method="DELETE")
    off = time.monotonic()
    off_wall = time.time()

    resolved = e2e.receiver.wait_for(
        lambda n: n.received_at >= off_wall and n.has(status="resolved", alertname=PAGE, slo=TWIN),
        timeout=210,
    )
    assert resolved is not None, f"{TWIN} page never resolved after the fault was switched off"
    took = round(resolved.received_at - off_wall, 1)
    still = _firing(e2e, "tasks-availability")
    e2e.figures.update(resolved_1d_s=took, page_30d_still_firing_at_resolve=still)
    print(f"fault off -> resolved notification ({TWIN}) after {took}s; 30d page firing: {still}")
    assert time.monotonic() - off < 240


@pytest.mark.timeout(240)
def test_model_drift_drops_the_accuracy_sli_below_objective(e2e: E2E) -> None:
    from slolab.slo import conventions as c
    from slolab.slo import load, promql

    slo = next(s for s in load(repo_root() / "slos.yaml") if s.name == "predictor-accuracy")
    sli = f"1 - {promql.recorded(slo, c.error_ratio_rule(slo.short_window))}"
    before = e2e.wait_value(sli, lambda v: v >= slo.objective, timeout=90)
    assert before is not None, f"accuracy SLI {sli} never at or above objective before drift"

    e2e.fault("predictor", model_drift=True)
    started = time.monotonic()
    try:
        after = e2e.wait_value(sli, lambda v: v < 0.85, timeout=150)
    finally:
        e2e.fault("predictor", method="DELETE")
    assert after is not None, f"accuracy SLI stayed >= 85% under model drift ({sli})"
    took = round(time.monotonic() - started, 1)
    e2e.figures.update(accuracy_before=round(before, 3), accuracy_drift=round(after, 3))
    e2e.figures["accuracy_below_85_s"] = took
    print(f"\naccuracy {before:.1%} -> {after:.1%} under drift after {took}s")


@pytest.mark.timeout(240)
def test_every_slo_selector_matches_exported_series(e2e: E2E) -> None:
    from slolab.slo import load, promql

    slos = load(repo_root() / "slos.yaml")
    selectors = [(s.name, sel) for s in slos for sel in promql.selectors(s.sli)]
    selectors += [
        (s.name, s.sli.source)
        for s in slos
        if getattr(s.sli, "source", "") and s.sli.source not in promql.selectors(s.sli)
    ]
    assert selectors

    def missing() -> list[tuple[str, str]]:
        return [(n, sel) for n, sel in selectors if not e2e.query(f"count({sel})")]

    if missing():
        # Error selectors (5xx) only match once errors happened: cause a few.
        for svc in ("tasks", "predictor"):
            e2e.fault(svc, error_rate=0.3)
        try:
            _wait(lambda: not missing(), timeout=30, step=1)
        finally:
            for svc in ("tasks", "predictor"):
                e2e.fault(svc, method="DELETE")
    bad = missing()
    assert not bad, "selectors in slos.yaml that match no exported series:\n" + "\n".join(
        f"  {name}: {sel}" for name, sel in bad
    )


# Panels whose query is empty on a healthy lab by design. Keep this list short.
ALLOWED_EMPTY: dict[str, str] = {}
# Queries that may rightly be empty, by what they read.
ALLOWED_EMPTY_SERIES = {
    'ALERTS{alertstate="firing"': "no alert firing at that moment",
    'job="cadvisor"': "cAdvisor runs under docker compose only (slolab/dashboards/services.py)",
}


@pytest.mark.timeout(300)
def test_every_dashboard_panel_query_parses_and_returns_data(e2e: E2E) -> None:
    from slolab.dashboards import panel_queries  # type: ignore[import-not-found]

    queries = list(panel_queries())
    assert queries, "no dashboard panels found"
    e2e.wait_period_figures()  # the SLO dashboard's period panels read them
    errors, empty = [], []
    for dashboard, panel, expr in queries:
        expr_live = expr.replace("$__rate_interval", "1m").replace("$__range", "1h")
        expr_live = expr_live.replace("$__interval", "30s")
        # The SLO dashboard's template variables: every service, one SLO for a row.
        expr_live = expr_live.replace('=~"$service"', '=~".*"').replace('=~"$slo"', '=~".*"')
        expr_live = expr_live.replace('"$slo"', '"tasks-availability"')
        resp = e2e.prom.get("/api/v1/query", params={"query": expr_live})
        body = resp.json()
        if body.get("status") != "success":
            errors.append(f"{dashboard} / {panel}: {body.get('error')}\n    {expr}")
            continue
        result = body["data"]["result"]
        values = [
            float(r["value"][1])
            for r in (result if isinstance(result, list) else [])
            if isinstance(r, dict)
        ]
        if not values or all(math.isnan(v) for v in values):
            empty.append((dashboard, panel, expr))
    print(f"\n{len(queries)} panel queries; empty: {len(empty)}")
    for d, p, q in empty:
        print(f"  EMPTY {d} / {p}: {q}")
    assert not errors, "panel queries Prometheus rejects:\n" + "\n".join(errors)
    unexpected = [(d, p, q) for d, p, q in empty if p not in ALLOWED_EMPTY
                  and not any(series in q for series in ALLOWED_EMPTY_SERIES)]  # fmt: skip
    assert not unexpected, "panels without data after load:\n" + "\n".join(
        f"  {d} / {p}: {q}" for d, p, q in unexpected
    )


@pytest.mark.timeout(120)
@pytest.mark.parametrize("command", ["status", "report"])
def test_slo_cli_reads_the_live_prometheus(e2e: E2E, command: str, tmp_path) -> None:
    prometheus = e2e.lab.url("prometheus")
    argv = [sys.executable, "-m", "slolab", "slo", command, "--prometheus", prometheus]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=repo_root())
    assert res.returncode == 0, res.stdout + res.stderr
    assert "tasks-availability" in res.stdout
    assert any(ch.isdigit() for ch in res.stdout)
