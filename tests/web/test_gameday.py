"""The dashboard's game-day view: /api/gameday serves the live scorecard; in Chromium the
timeline (fault band, deadline marks, firing bars) and the table fill in as the file changes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import slolab.slo as slo_pkg
from slolab.lab.procs import free_port
from slolab.scenario.render import CardView, state
from slolab.scenario.spec import load_scenario
from slolab.slo.scorecard import Firing, Outcome, score
from slolab.web.app import create_app
from tests.browser import chromium_page
from tests.web.serving import served

ROOT = Path(__file__).resolve().parents[2]
SLOS = slo_pkg.load(ROOT / "slos.yaml")
OUTAGE = load_scenario(ROOT / "scenarios" / "tasks-outage.yaml", SLOS)
S = timedelta(seconds=1)


def _write(path: Path, firings: list[Firing], elapsed: int) -> None:
    outcome = Outcome(firings, {"tasks-availability": 0.02}, elapsed * S)
    card = score(OUTAGE.alerts, OUTAGE.budgets, outcome, final=False)
    doc = state(CardView(OUTAGE, card, "observed", firings), elapsed * S, running=True)
    path.write_text(json.dumps(doc))


def test_api_gameday_serves_the_state_file_or_says_there_is_none(tmp_path: Path) -> None:
    path = tmp_path / "gameday.json"
    with TestClient(create_app(SLOS, "http://127.0.0.1:1", gameday_state=path)) as client:
        assert client.get("/api/gameday").json() == {"scenario": None, "running": False}
        _write(path, [], 30)
        body = client.get("/api/gameday").json()
        path.write_text("{half a file")
        broken = client.get("/api/gameday").json()
    assert body["scenario"] == "tasks-outage" and body["running"] is True
    assert [f["start_s"] for f in body["faults"]] == [20.0]
    assert body["expectations"][0]["deadline_s"] == 110.0  # fault at 20 s + within 90 s
    assert broken["scenario"] is None and "cannot read" in broken["error"]


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    path = tmp_path / "gameday.json"
    app = create_app(SLOS, f"http://127.0.0.1:{free_port()}", gameday_state=path, timeout=1)
    with served(app) as url:
        yield url, path


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_chromium_shows_the_running_game_day_filling_in(dashboard, tmp_path: Path) -> None:
    url, path = dashboard
    _write(path, [], 40)
    with chromium_page() as page:
        page.goto(url)
        page.wait_for_selector("#gameday:not([hidden]) #gameday-svg", timeout=20_000)
        assert "tasks-outage" in page.inner_text("#gameday-name")
        assert page.inner_text("#gameday-verdict") == "running"
        assert page.locator("#gameday-svg .gameday-bar").count() == 1  # the fault band
        assert page.locator("#gameday-svg .gameday-deadline").count() == 3
        assert page.locator("#gameday-card tbody tr").count() == len(OUTAGE.alerts) + 1
        # The page fires: the next poll draws its bar and passes its row.
        _write(path, [Firing("SLOErrorBudgetBurnPage", "tasks-availability", "critical",
                             75 * S, 90 * S)], 90)  # fmt: skip
        page.wait_for_function(
            "document.querySelectorAll('#gameday-svg .gameday-bar').length == 2",
            timeout=20_000)  # fmt: skip
        first = page.locator("#gameday-card tbody tr").first
        assert first.locator("td").nth(1).inner_text() == "pass"
        assert first.locator("td").nth(2).inner_text() == "after 55s"
        folder = Path(os.environ.get("SLOLAB_SCREENSHOT_DIR") or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        shot = folder / "gameday.png"
        page.locator("#gameday").screenshot(path=str(shot))
        assert shot.stat().st_size > 5_000
        # A game day inside planned work: its budget adjustment is a grey band with the reason.
        planned = load_scenario(ROOT / "scenarios" / "planned-maintenance.yaml", SLOS)
        card = score(planned.alerts, planned.budgets, Outcome([], {}, 60 * S), final=False)
        doc = state(CardView(planned, card, "observed", []), 60 * S, running=True)
        path.write_text(json.dumps(doc))
        page.wait_for_selector("#gameday-svg .gameday-adjustment", timeout=20_000)
        band = page.locator("#gameday-svg .gameday-adjustment")
        assert band.count() == 1
        assert "planned database migration: tasks-availability" in (band.text_content() or "")
        assert "adjustment: planned database migration" in page.text_content("#gameday-svg")
