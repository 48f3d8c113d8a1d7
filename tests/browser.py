"""Debian's Chromium driven by Playwright, for the browser tests (one way to start it)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium_page(width: int = 1360, height: int = 900) -> Iterator[object]:
    """A page in headless Chromium; the test is skipped where Chromium or Playwright is absent."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium (.ci/run installs it)")
    with playwright_api.sync_playwright() as pw:
        # Debian's chromium, not a downloaded one; as root it needs --no-sandbox.
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()
