"""The browser dashboard in a real headless Chromium against the live lab.

Runs after test_lab.py (file order): the fault it switches on would page the
30-day tasks-availability SLO, which test_lab.py needs quiet at its start.
Set SLOLAB_SCREENSHOT_DIR to keep the screenshots (docs/lab.md uses them).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from slolab.lab.config import repo_root
from slolab.slo import load
from tests.browser import chromium_page
from tests.e2e.conftest import E2E

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def page(e2e: E2E) -> Iterator[object]:
    with chromium_page(height=1000) as tab:
        tab.goto(e2e.lab.url("dashboard") + "/")  # type: ignore[attr-defined]
        yield tab


def _shot(page: object, name: str, tmp: Path) -> Path:
    folder = Path(os.environ.get("SLOLAB_SCREENSHOT_DIR") or tmp)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), full_page=False)  # type: ignore[attr-defined]
    return path


def _refreshes(page: object) -> int:
    return int(page.evaluate("Number(document.body.dataset.refreshes || 0)"))  # type: ignore[attr-defined]


@pytest.mark.timeout(360)
def test_page_lists_every_slo_with_numbers_and_charts(e2e: E2E, page, tmp_path: Path) -> None:
    names = [s.name for s in load(repo_root() / "slos.yaml")]
    rows = page.locator("#slo-table tbody tr")
    page.wait_for_function(
        f"document.querySelectorAll('#slo-table tbody tr').length == {len(names)}"
    )
    assert [rows.nth(i).get_attribute("data-slo") for i in range(rows.count())] == names

    # Charts drawn with data: wait until tasks-availability's budget and SLI have points.
    e2e.wait_period_figures()
    page.wait_for_function(
        "Number(document.querySelector('.slo-card[data-slo=\"tasks-availability\"]')"
        "?.dataset.points || 0) >= 4",
        timeout=120_000,
    )
    card = page.locator('.slo-card[data-slo="tasks-availability"]')
    assert card.locator("canvas").count() == 2  # budget burn-down, SLI with objective
    # The SLI column shows a number, not "-", once the rules have evaluated.
    page.wait_for_function(
        "document.querySelector('tr[data-slo=\"tasks-availability\"] td:nth-child(5)')"
        ".textContent.includes('%')",
        timeout=120_000,
    )
    # A chart canvas has drawn pixels (not just an empty box).
    drawn = page.evaluate(
        """() => {
          const c = document.querySelector('.slo-card[data-slo="tasks-availability"] canvas');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
          return n;
        }"""
    )
    assert drawn > 500, f"budget chart canvas has only {drawn} drawn pixels"
    _shot(page, "dashboard.png", tmp_path)


@pytest.mark.timeout(120)
def test_browser_view_and_grafana_overview_show_the_same_numbers(e2e: E2E) -> None:
    import httpx

    from slolab.dashboards.slo import OVERVIEW_QUERIES

    state = httpx.get(e2e.lab.url("dashboard") + "/api/state", timeout=30).json()
    grafana: dict[str, dict[str, float]] = {}
    for column, expr in OVERVIEW_QUERIES.items():
        live = expr.replace("$service", ".*").replace("$slo", ".*")
        for row in e2e.query(live):
            grafana.setdefault(row["metric"]["slo"], {})[column] = float(row["value"][1])
    browser_to_grafana = {
        "objective": "objective", "sli": "SLI (period)", "budget_remaining": "budget left",
    }  # fmt: skip
    compared = 0
    for row in state["slos"]:
        if row["sli"] is None:
            continue
        mine, theirs = row, grafana[row["name"]]
        for key, column in browser_to_grafana.items():
            # Rules evaluate every 2 s here: the two reads may straddle one evaluation.
            assert mine[key] == pytest.approx(theirs[column], rel=1e-3, abs=1e-3), (
                row["name"], key, mine[key], theirs[column])  # fmt: skip
        assert row["burn_rates"]["period"] == pytest.approx(
            theirs["burn period"], rel=1e-2, abs=1e-2)  # fmt: skip
        assert row["burn_rates"]["5m"] == pytest.approx(theirs["burn now"], rel=0.05, abs=0.05)
        assert len(row["alerts"]) == int(theirs.get("alerts firing", 0))
        compared += 1
    assert compared >= 6, state["slos"]


@pytest.mark.timeout(300)
def test_fault_and_page_show_up_within_one_refresh(e2e: E2E, page, tmp_path: Path) -> None:
    page.wait_for_function("Number(document.body.dataset.refreshes || 0) >= 1")
    # Latency on the predictor: its exemplars (trace ids) above the 200 ms threshold.
    e2e.fault("predictor", latency_ms=300)
    e2e.fault("tasks", error_rate=1.0)
    try:
        # Once Prometheus has the fault series, the page shows it at its next refresh.
        assert e2e.wait_value(
            'slolab_fault_active{job="tasks", fault="error_rate"}', lambda v: v == 1, timeout=60
        ), "Prometheus never scraped the fault gauge"
        seen_at = _refreshes(page)
        page.wait_for_function(
            "[...document.querySelectorAll('#faults li.fault')]"
            ".some(li => li.textContent.includes('error_rate'))",
            timeout=30_000,
        )
        # One refresh may already be in flight when Prometheus got the sample.
        assert _refreshes(page) <= seen_at + 2, "the fault took more than one refresh to show"

        # The page fires (the 1-day twin within seconds); the timeline and list show it.
        page.wait_for_function(
            "[...document.querySelectorAll('#alerts li.firing')]"
            ".some(li => li.textContent.includes('SLOErrorBudgetBurnPage'))",
            timeout=150_000,
        )
        assert page.locator("#timeline .span.critical").count() >= 1
        # Slow predictor requests with trace ids from the histogram's exemplars.
        page.wait_for_function(
            "document.querySelectorAll('#slow tbody tr.slow').length >= 1", timeout=90_000
        )
        trace = page.locator("#slow tbody tr.slow td").nth(4).text_content() or ""
        assert len(trace.strip()) == 32 and int(trace, 16) > 0, f"not a trace id: {trace!r}"
        started = time.monotonic()
        page.wait_for_function(
            "document.querySelector('tr[data-slo=\"tasks-availability\"]').dataset.state"
            " !== 'meeting'",
            timeout=120_000,
        )
        print(f"\ndashboard: tasks-availability left 'meeting' {time.monotonic() - started:.1f}s "
              "after the page showed")  # fmt: skip
        _shot(page, "dashboard-fault.png", tmp_path)
    finally:
        e2e.fault("tasks", method="DELETE")
        e2e.fault("predictor", method="DELETE")
