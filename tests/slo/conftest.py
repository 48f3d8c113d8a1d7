"""Fixtures of the SLO toolkit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.slo.fake_prometheus import FakePrometheus


@pytest.fixture
def fake_prom() -> Iterator[FakePrometheus]:
    """A fake Prometheus API on a free loopback port; set ``.route`` in the test."""
    server = FakePrometheus().start()
    try:
        yield server
    finally:
        server.stop()


TOOLKIT_SLOS = """
version: 1
slos:
  - name: tasks-availability
    service: tasks
    description: Requests without a 5xx.
    owner: tasks-team
    sli:
      ratio:
        errors: flask_http_request_duration_seconds_count{job="tasks", status=~"5.."}
        total: flask_http_request_duration_seconds_count{job="tasks"}
    objective: 99.9
    period: 30d
    review: {cadence: 90d, last_review: 2026-09-01}
  - name: tasks-latency
    service: tasks
    description: Requests in 500 ms or less.
    owner: tasks-team
    sli:
      latency:
        histogram: flask_http_request_duration_seconds
        selector: job="tasks"
        threshold_seconds: 0.5
    objective: 95
    period: 30d
    review: {cadence: 90d, last_review: 2026-11-01}
  - name: model-freshness
    service: predictor
    description: Model trained within the hour.
    owner: ml-team
    sli:
      freshness:
        timestamp: model_last_trained_timestamp_seconds{job="predictor"}
        max_age_seconds: 3600
    objective: 99
    period: 1d
    review: {cadence: 30d, last_review: 2026-10-01}
"""


@pytest.fixture
def toolkit_slos():
    """Three SLOs (30d ratio, 30d latency, 1d freshness) built by the real loader."""
    from slolab.slo.model import from_spec
    from slolab.slo.spec import parse_spec

    return from_spec(parse_spec(TOOLKIT_SLOS, source="test-slos.yaml"))


@pytest.fixture
def toolkit_slos_file(tmp_path):
    path = tmp_path / "slos.yaml"
    path.write_text(TOOLKIT_SLOS, encoding="utf-8")
    return path
