"""Budget adjustments in the browser view: the JSON says which windows to shade and which
are running or coming; in Chromium each chart shades them with the reason on hover."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from slolab.slo.model import from_spec
from slolab.slo.query import Prometheus
from slolab.slo.spec import parse_spec
from slolab.web import data
from slolab.web.app import create_app
from tests.browser import chromium_page
from tests.slo.conftest import TOOLKIT_SLOS
from tests.slo.test_outputs_unchanged import route
from tests.web.serving import served

NOW = 1_795_000_000.0  # 2026-11-18 ~09:46 UTC


def _z(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _slos(now: float):
    """The toolkit's three SLOs with a one-off adjustment running now on tasks-availability,
    a recurring one on the predictor's SLOs and one ended long before every chart."""
    text = (
        TOOLKIT_SLOS
        + f"""
adjustments:
  - name: db-migration
    reason: planned database migration
    start: {_z(now - 3600)}
    duration: 2h
    slos: [tasks-availability]
  - name: model-retrain
    reason: model retraining
    start: {_z(now - 3 * 86400 + 1800)}
    duration: 30m
    every: 6h
    services: [predictor]
  - name: old-move
    reason: data centre move
    start: {_z(now - 90 * 86400)}
    duration: 1h
    slos: [tasks-latency]
"""
    )
    return from_spec(parse_spec(text, source="adjusted.yaml"))


def test_charts_carry_the_windows_they_overlap_and_only_for_adjusted_slos(fake_prom) -> None:
    fake_prom.route = route
    slos = {s.name: s for s in _slos(NOW)}
    with Prometheus(fake_prom.url) as prom:
        tasks = data.charts(prom, slos["tasks-availability"], now=NOW)
        fresh = data.charts(prom, slos["model-freshness"], now=NOW)
        latency = data.charts(prom, slos["tasks-latency"], now=NOW)
    # One-off, running now: shaded from its start to its end (past the chart's right edge).
    migration = {"name": "db-migration", "reason": "planned database migration"}
    assert tasks["adjustments"] == [{**migration, "start": NOW - 3600, "end": NOW + 3600}]
    # Recurring every 6 h over a 1-day chart: each window that overlaps it.
    starts = [w["start"] for w in fresh["adjustments"]]
    assert all(b - a == 6 * 3600 for a, b in itertools.pairwise(starts))
    assert len(starts) == 4 and fresh["start"] < starts[0] + 1800 and starts[-1] <= NOW
    assert all(w["end"] - w["start"] == 1800 for w in fresh["adjustments"])
    # An SLO whose only adjustment ended before its 30-day chart: the key, no window.
    assert latency["adjustments"] == []
    # Without any adjustment the SLO's chart has no key at all (web.json stays as it was).
    with Prometheus(fake_prom.url) as prom:
        plain = data.charts(prom, from_spec(parse_spec(TOOLKIT_SLOS))[0], now=NOW)
    assert "adjustments" not in plain


def test_state_lists_running_and_upcoming_adjustments_with_their_slos(fake_prom) -> None:
    fake_prom.route = route
    listed = data.adjustments(_slos(NOW), NOW, timedelta(days=7))
    by_name = {a["name"]: a for a in listed}
    assert set(by_name) == {"db-migration", "model-retrain"}  # the old one is over
    migration = by_name["db-migration"]
    assert migration["slos"] == ["tasks-availability"] and migration["every_seconds"] is None
    assert migration["windows"] == [
        {"start": data.iso(NOW - 3600), "end": data.iso(NOW + 3600), "active": True}
    ]
    retrain = by_name["model-retrain"]
    assert retrain["slos"] == ["model-freshness"] and retrain["every_seconds"] == 6 * 3600
    assert len(retrain["windows"]) == 5 and not any(w["active"] for w in retrain["windows"])
    with TestClient(create_app(_slos(time.time()), fake_prom.url)) as client:
        state = client.get("/api/state").json()
        plain = client.get("/api/charts", params={"slo": "tasks-availability"}).json()
    assert [a["name"] for a in state["adjustments"]] == ["db-migration", "model-retrain"]
    assert plain["charts"][0]["adjustments"][0]["reason"] == "planned database migration"


@pytest.fixture
def dashboard(fake_prom) -> Iterator[str]:
    fake_prom.route = route
    with served(create_app(_slos(time.time()), fake_prom.url, timeout=5)) as url:
        yield url


def _grey_columns(page: object, slo: str) -> int:
    """Columns of a chart's screenshot, at mid height, in the adjustment bands' grey."""
    from PIL import Image  # fpdf2's dependency (the PDF report)

    chart = page.locator(f'.slo-card[data-slo="{slo}"] .uplot').first  # type: ignore[attr-defined]
    img = Image.open(BytesIO(chart.screenshot())).convert("RGB")
    w, h = img.size

    def banded(r: int, g: int, b: int) -> bool:
        # The fill, rgba(140, 149, 159, .28) over white: (223, 225, 228); its edges (140, 149, 159).
        return any(abs(r - x) <= 3 and abs(g - y) <= 3 and abs(b - z) <= 3
                   for x, y, z in ((223, 225, 228), (140, 149, 159)))  # fmt: skip

    return sum(sum(banded(*img.getpixel((x, y))) for y in range(h)) >= 10 for x in range(w))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_chromium_shades_each_adjustment_and_lists_the_running_one(dashboard, tmp_path) -> None:
    with chromium_page() as page:
        page.goto(dashboard)  # type: ignore[attr-defined]
        page.wait_for_selector(".slo-card .adjustment-band", timeout=30_000)  # type: ignore[attr-defined]
        bands = page.locator('.slo-card[data-slo="tasks-availability"] .adjustment-band')  # type: ignore[attr-defined]
        assert bands.count() == 2  # budget and SLI charts
        assert "planned database migration" in (bands.first.get_attribute("title") or "")
        width = float(bands.first.evaluate("b => b.getBoundingClientRect().width"))
        # The last hour of a 30-day axis (the window runs on past now): a sliver, drawn.
        assert 1 <= width < 20
        # The 1-day freshness chart: four 30-minute windows, each a visible band.
        fresh = page.locator('.slo-card[data-slo="model-freshness"] .adjustment-band')  # type: ignore[attr-defined]
        assert fresh.count() == 8
        assert page.locator('.slo-card[data-slo="tasks-latency"] .adjustment-band').count() == 0  # type: ignore[attr-defined]
        legend = page.inner_text('.slo-card[data-slo="model-freshness"] .adjustments-legend')  # type: ignore[attr-defined]
        assert legend.count("model retraining") == 4
        # The list under the table, and the row of the SLO inside one now.
        assert page.locator("#adjustments").is_visible()  # type: ignore[attr-defined]
        running = page.locator("#adjustments-list li.active")  # type: ignore[attr-defined]
        assert running.count() == 1 and "db-migration" in running.inner_text()
        row = page.locator('tr[data-slo="tasks-availability"]')  # type: ignore[attr-defined]
        assert row.get_attribute("data-adjusted") == "db-migration"
        assert "(planned work)" in row.inner_text()
        # Pixels, not only elements: the grey bands show in a screenshot of the chart.
        assert _grey_columns(page, "model-freshness") >= 4 * 3  # four bands, 3+ px each
        assert _grey_columns(page, "tasks-latency") == 0
        folder = Path(os.environ.get("SLOLAB_SCREENSHOT_DIR") or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        page.locator('.slo-card[data-slo="model-freshness"]').screenshot(  # type: ignore[attr-defined]
            path=str(folder / "dashboard-adjustments.png")
        )
