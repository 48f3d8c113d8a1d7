"""The dashboard app's endpoints: the page, bad input as 4xx JSON, Prometheus down as 502."""

from __future__ import annotations

from fastapi.testclient import TestClient

from slolab.lab.procs import free_port
from slolab.web.app import create_app


def _client(toolkit_slos, url: str) -> TestClient:
    return TestClient(create_app(toolkit_slos, url, timeout=2))


def test_page_and_vendored_chart_library_are_served(toolkit_slos) -> None:
    with _client(toolkit_slos, "http://127.0.0.1:1") as client:
        page = client.get("/")
        assert page.status_code == 200 and "uPlot-1.6.32.iife.min.js" in page.text
        lib = client.get("/static/uPlot-1.6.32.iife.min.js")
        assert lib.status_code == 200 and "uPlot" in lib.text[:200]
        assert "http" not in page.text.split("<body>")[1].split("static/")[0]  # no CDN


def test_unknown_slo_is_a_404_naming_the_known_ones(toolkit_slos) -> None:
    with _client(toolkit_slos, "http://127.0.0.1:1") as client:
        resp = client.get("/api/charts", params={"slo": "nope"})
    assert resp.status_code == 404
    assert "nope" in resp.json()["error"] and toolkit_slos[0].name in resp.json()["error"]


def test_prometheus_down_is_a_502_with_the_reason(toolkit_slos) -> None:
    with _client(toolkit_slos, f"http://127.0.0.1:{free_port()}") as client:
        resp = client.get("/api/state")
        health = client.get("/healthz")
    assert resp.status_code == 502 and "cannot reach" in resp.json()["error"]
    assert health.status_code == 200 and health.json()["slos"] == len(toolkit_slos)
