"""One native lab for all end-to-end tests: real services, Prometheus and Alertmanager.

Started once per session on free ports in a temporary folder, with 2 s scrape
and rule evaluation intervals and short Alertmanager grouping, plus light load.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from slolab.faults import feedback_token
from slolab.lab import binaries
from slolab.lab.config import Ports, repo_root
from slolab.lab.procs import free_port
from slolab.lab.runner import Lab, fast_config
from slolab.lab.webhook import AlertReceiver
from tests.e2e.traffic import Traffic

# tasks-availability with a 1-day period: the same SLI and alert shape with windows
# scaled 1/30 (5m -> 1m, 30m -> 1m, 1h -> 2m, 6h -> 12m), so a page also resolves
# within the test. With the committed 30-day windows a page raised by a short
# outage stays up until the errors leave the 30m window (see docs/lab.md).
TWIN = "tasks-availability-1d"


def _twin_rules(dest: Path) -> Path:
    from slolab.slo import load
    from slolab.slo.generate.rules import rule_groups

    slo = next(s for s in load(repo_root() / "slos.yaml") if s.name == "tasks-availability")
    twin = replace(slo, name=TWIN, period=timedelta(days=1))
    groups = rule_groups(twin.service, [twin])
    for group in groups:
        group["name"] = f"e2e-{group['name']}"
        # Keep only the twin's own rules; the per-service ones are in the committed file.
        group["rules"] = [r for r in group["rules"] if r.get("labels", {}).get("slo") == TWIN]
    path = dest / "e2e-twin.yml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


@dataclass
class E2E:
    lab: Lab
    receiver: AlertReceiver
    traffic: Traffic
    prom: httpx.Client
    figures: dict[str, Any]

    def query(self, expr: str) -> list[dict[str, Any]]:
        resp = self.prom.get("/api/v1/query", params={"query": expr})
        body = resp.json()
        if resp.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"query failed ({resp.status_code}): {expr}\n{body}")
        return body["data"]["result"]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def wait_value(self, expr: str, pred, timeout: float, step: float = 1.0) -> float | None:
        """Poll ``expr`` until ``pred(value)`` holds; return the value (None on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            self.lab.check()
            v = self.value(expr)
            if v is not None and pred(v):
                return v
            if time.monotonic() > deadline:
                return None
            time.sleep(step)

    def wait_period_figures(self, slo: str = "tasks-availability") -> None:
        """Wait for the first SLO aggregate: the period figures exist from then on.

        In test mode the aggregates record every ``TEST_AGGREGATE_WINDOW``
        (slolab/lab/render.py), so the first may come that long after Prometheus
        started.
        """
        from slolab.lab.render import TEST_AGGREGATE_WINDOW
        from slolab.slo import conventions as c
        from slolab.slo.durations import parse_duration

        # An aggregate recorded before the second scrape has no total yet: wait for
        # the period SLI of the SLO the dashboard tests show, not for any aggregate.
        timeout = 2 * parse_duration(TEST_AGGREGATE_WINDOW).total_seconds() + 60
        query = f'count({c.RULE_ERROR_RATIO_PERIOD}{{slo="{slo}"}})'
        found = self.wait_value(query, lambda v: v > 0, timeout)
        assert found, f"no period SLI of {slo} within {timeout:.0f}s of the lab's start"

    def fault(self, service: str, method: str = "PUT", **faults: Any) -> dict[str, Any]:
        resp = httpx.request(
            method,
            f"{self.lab.url(service)}/admin/faults",
            json=faults if method == "PUT" else None,
            headers={"Authorization": f"Bearer {self.lab.admin_token}"},
            timeout=5,
        )
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    absent = binaries.missing()
    if absent:
        pytest.skip(
            "end-to-end tests need "
            + ", ".join(b.names[0] for b in absent)
            + " (Debian packages prometheus, prometheus-alertmanager, "
            "prometheus-blackbox-exporter; .ci/run installs them)"
        )
    base = tmp_path_factory.mktemp("e2e")
    twin = _twin_rules(base)
    ports = {name: free_port() for name in Ports().as_dict()}
    with AlertReceiver() as receiver:
        cfg = fast_config(
            base / "lab",
            ports,
            webhook_url=receiver.url,
            extra_rule_files=(twin,),
            # SQLite under the lab folder even where MONGO_URL is set for other tests.
            # Spans go to the lab's own trace receiver (an OTLP endpoint set in the
            # environment is ignored here); the predictor's exemplars carry trace ids
            # for the dashboard's slow requests.
            extra_env={
                "OTEL_SDK_DISABLED": "false",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "",
                "LOG_LEVEL": "WARNING",
                "MONGO_URL": "",
            },
        )
        lab = Lab(cfg, echo=lambda line: print(line, flush=True))
        started = time.monotonic()
        with lab:
            figures: dict[str, Any] = {"lab_start_s": round(time.monotonic() - started, 1)}
            token = feedback_token({**os.environ, "SLOLAB_ADMIN_TOKEN": lab.admin_token})
            traffic = Traffic(
                lab.url("tasks"), lab.url("predictor"),
                feedback_headers={"Authorization": f"Bearer {token}"},
            ).start()  # fmt: skip
            with httpx.Client(base_url=lab.url("prometheus"), timeout=10) as prom:
                env = E2E(lab, receiver, traffic, prom, figures)
                try:
                    yield env
                finally:
                    traffic.stop()
                    print("\ne2e figures:", json.dumps(figures), flush=True)
                    out = base / "figures.json"
                    out.write_text(json.dumps(figures, indent=2))
