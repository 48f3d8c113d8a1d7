"""``slolab slo validate --against URL``: selectors and thresholds against live /metrics."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from slolab.cli import main
from slolab.lab.httpserve import BackgroundHTTPServer, QuietHandler
from slolab.slo import against


def _histogram(buckets: tuple[str, ...], status: str = "200") -> str:
    lines = ["# TYPE flask_http_request_duration_seconds histogram"]
    labels = f'method="GET",path="/api/tasks",status="{status}"'
    for le in (*buckets, "+Inf"):
        lines.append(f'flask_http_request_duration_seconds_bucket{{{labels},le="{le}"}} 5.0')
    lines.append(f"flask_http_request_duration_seconds_count{{{labels}}} 5.0")
    lines.append(f"flask_http_request_duration_seconds_sum{{{labels}}} 1.0")
    return "\n".join(lines) + "\n"


FRESH = (
    "# TYPE model_last_trained_timestamp_seconds gauge\n"
    "model_last_trained_timestamp_seconds 1.7e9\n"
)


class _Metrics(QuietHandler):
    pages: dict[str, str] = {}

    def do_GET(self) -> None:
        body = self.pages.get(self.path)
        self.reply(200 if body is not None else 404, body or "not found", "text/plain")


@pytest.fixture
def metrics_server() -> Iterator[tuple[str, dict[str, str]]]:
    pages: dict[str, str] = {}
    handler = type("Handler", (_Metrics,), {"pages": pages})
    with BackgroundHTTPServer(handler) as server:
        yield server.base_url, pages


def _run(slos_file, *urls: str) -> int:
    return main(["slo", "validate", "-f", str(slos_file), "--against", *urls])


def test_every_slo_measurable(metrics_server, toolkit_slos_file, capsys) -> None:
    base, pages = metrics_server
    pages["/metrics"] = _histogram(("0.25", "0.5", "1.0"), "500")
    pages["/predictor/metrics"] = FRESH
    assert _run(toolkit_slos_file, base, f"{base}/predictor/metrics") == 0
    out = capsys.readouterr().out
    assert "tasks-latency: ok (bucket le=0.5 on" in out
    assert "3 of 3 SLOs measurable" in out


def test_missing_bucket_everywhere_and_on_some_targets(
    metrics_server, toolkit_slos_file, capsys
) -> None:
    base, pages = metrics_server
    pages["/old/metrics"] = _histogram(("0.25", "1.0"))
    pages["/metrics"] = FRESH
    assert _run(toolkit_slos_file, f"{base}/old/metrics", base) == 1
    out = capsys.readouterr().out
    assert "tasks-latency: no bucket le=0.5 for flask_http_request_duration_seconds_bucket" in out
    assert "(buckets: 0.25 1)" in out
    # the 5xx selector matches no series on either target (no 500 has happened yet)
    assert 'tasks-availability: flask_http_request_duration_seconds_count{job="tasks", ' in out
    # one new target with the bucket, one old without: the old one is left out
    pages["/new/metrics"] = _histogram(("0.25", "0.5", "1.0"), "500")
    assert _run(toolkit_slos_file, f"{base}/old/metrics", f"{base}/new/metrics", base) == 1
    out = capsys.readouterr().out
    assert f"tasks-latency: bucket le=0.5 missing on {base}/old/metrics" in out
    assert "tasks-availability: ok" in out


def test_bad_urls_are_cli_errors(metrics_server, toolkit_slos_file, capsys) -> None:
    base, _ = metrics_server
    assert _run(toolkit_slos_file, f"{base}/nothing") == 2
    assert "answered HTTP 404" in capsys.readouterr().err
    assert _run(toolkit_slos_file, "ftp://example") == 2
    assert "is not an http(s) URL" in capsys.readouterr().err
    assert against.metrics_url("http://h:1") == "http://h:1/metrics"
    assert against.metrics_url("http://h:1/custom") == "http://h:1/custom"
