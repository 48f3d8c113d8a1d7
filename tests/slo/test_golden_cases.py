"""Golden cases: a named table of SLO files, each run through the real CLI.

Good inputs: every file `slolab slo generate` writes from the SLO spec (the
Prometheus rules and alerts, the Alertmanager routes) must equal
``golden/cases/<name>/`` byte for byte. Bad inputs: `slolab slo validate` exits
2 with the error text given. (Sloth keeps its CLI cases the same way; the
dashboards and Kubernetes output of whole files: golden/in-*.yaml.)
``SLOLAB_UPDATE_GOLDEN=1`` rewrites the expected files.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import textwrap
from pathlib import Path

import pytest

from slolab.cli import main

CASES_DIR = Path(__file__).parent / "golden" / "cases"
REVIEW = "review: {cadence: 90d, last_review: 2026-01-15}"


def _slo(name: str, sli: str, *extra: str, objective: float = 99.9) -> str:
    """One SLO of service ``shop``; ``sli``: the YAML under ``sli:``."""
    lines = [
        f"  - name: {name}",
        "    service: shop",
        "    description: A golden case.",
        "    owner: shop-team",
        "    sli:",
        textwrap.indent(textwrap.dedent(sli).strip(), "      "),
        f"    objective: {objective:g}",
        f"    {REVIEW}",
        *(f"    {e}" for e in extra),
    ]
    return "\n".join(lines) + "\n"


def _file(*slos: str, head: str = "") -> str:
    return f"version: 1\n{textwrap.dedent(head)}slos:\n" + "".join(slos)


RATIO_ERRORS = """
    ratio:
      errors: http_requests_total{job="shop", code=~"5.."}
      total: http_requests_total{job="shop"}
"""
RATIO_GOOD = """
    ratio:
      good: orders_ok_total{job="shop"}
      total: orders_total{job="shop"}
"""
LATENCY = """
    latency:
      histogram: http_request_duration_seconds
      selector: job="shop", path=~"/api/.*"
      buckets: [0.1, 0.25, 0.5, 1]
      threshold_seconds: 0.25
"""
PROBE = """
    probe: {selector: 'probe_success{job="blackbox-shop"}'}
"""
FRESHNESS = """
    freshness:
      timestamp: model_last_trained_timestamp_seconds{job="shop"}
      max_age_seconds: 3600
"""
THRESHOLD = """
    threshold:
      expr: queue_depth{job="shop"}
      op: "<="
      value: 100
"""
CPU = """
    cpu: {selector: 'process_cpu_seconds_total{job="shop"}', max_cores: 0.5}
"""
MEMORY = """
    memory: {selector: 'process_resident_memory_bytes{job="shop"}', max_bytes: 268435456}
"""

GOOD: dict[str, str] = {
    # every SLI kind, at the default 30-day rolling period
    "ratio-errors": _file(_slo("shop-availability", RATIO_ERRORS)),
    "ratio-good": _file(_slo("shop-orders", RATIO_GOOD, objective=99.5)),
    "latency": _file(_slo("shop-latency", LATENCY, objective=95)),
    "probe": _file(_slo("shop-uptime", PROBE, objective=99.5)),
    "freshness": _file(_slo("shop-freshness", FRESHNESS, objective=99)),
    "threshold": _file(_slo("shop-queue", THRESHOLD, objective=99)),
    "cpu": _file(_slo("shop-cpu", CPU, objective=95)),
    "memory": _file(_slo("shop-memory", MEMORY, objective=95)),
    # the other windows: 28 days (four whole weeks), a week, a day
    "period-28d": _file(_slo("shop-availability", RATIO_ERRORS, "period: 28d")),
    "period-7d": _file(_slo("shop-availability", RATIO_ERRORS, "period: 7d", objective=99)),
    "period-1d": _file(_slo("shop-availability", RATIO_ERRORS, "period: 1d", objective=99)),
    # several periods: the first drives the burn-rate alerts, each has its budget
    "periods-several": _file(_slo("shop-availability", RATIO_ERRORS, "periods: [30d, 7d]")),
    # an objective so low that the 14.4x page condition cannot fire: left out
    "fewer-burn-alerts": _file(_slo("shop-best-effort", RATIO_ERRORS, objective=92)),
    # extra labels on every series and alert; a runbook of its own
    "extra-labels": _file(
        _slo(
            "shop-availability",
            RATIO_ERRORS,
            "labels: {team: shop, tier: '1'}",
            'alerting: {runbook_url: "https://runbooks.example.com/shop"}',
        )
    ),
    "runbook-base-url": _file(
        _slo("shop-availability", RATIO_ERRORS),
        head="runbook_base_url: https://runbooks.example.com/slo\n",
    ),
    # error-budget policies: file-wide and per SLO
    "policy-default": _file(
        _slo("shop-availability", RATIO_ERRORS),
        head="""\
        policy:
          default:
            - action: notify
              when: {budget_remaining_at_most: 0.5}
            - action: freeze
              when: {budget_remaining_at_most: 0}
          min_coverage: 0.2
        """,
    ),
    "policy-per-slo": _file(
        _slo("shop-availability", RATIO_ERRORS),
        _slo("shop-latency", LATENCY, objective=95),
        head="""\
        policy:
          slos:
            shop-latency:
              - action: review
                when: {budget_remaining_at_most: 0.25}
        """,
    ),
    "two-services": _file(
        _slo("shop-availability", RATIO_ERRORS),
        _slo("cart-availability", RATIO_ERRORS).replace("service: shop", "service: cart"),
    ),
}

BAD: dict[str, tuple[str, str]] = {
    "no-slos": ("version: 1\nslos: []\n", "slos: List should have at least 1 item"),
    "two-sli-kinds": (
        _file(_slo("shop-x", RATIO_ERRORS + PROBE)),
        "slo 'shop-x': sli: give exactly one SLI kind of ratio, latency, probe, freshness, "
        "threshold, cpu, memory (got ratio, probe)",
    ),
    "objective-100": (
        _file(_slo("shop-x", RATIO_ERRORS, objective=100)),
        "slo 'shop-x': objective: 100 leaves no error budget",
    ),
    "unknown-period": (
        _file(_slo("shop-x", RATIO_ERRORS, "period: 14d")),
        "slo 'shop-x': period: '14d' is not a supported period (30d, 28d, 7d, 1d)",
    ),
    "periods-and-period": (
        _file(_slo("shop-x", RATIO_ERRORS, "period: 30d", "periods: [30d, 7d]")),
        "slo 'shop-x': periods: give either period (30d) or periods ([30d, 7d]), not both",
    ),
    "periods-twice": (
        _file(_slo("shop-x", RATIO_ERRORS, "periods: [7d, 30d, 7d]")),
        "slo 'shop-x': periods: 7d is listed twice",
    ),
    "periods-unknown": (
        _file(_slo("shop-x", RATIO_ERRORS, "periods: [30d, 14d]")),
        "slo 'shop-x': periods: '14d' is not a supported period (30d, 28d, 7d, 1d)",
    ),
    "not-a-bucket": (
        _file(_slo("shop-x", LATENCY.replace("0.25\n", "0.3\n"))),
        "0.3 is not a bucket boundary of http_request_duration_seconds",
    ),
    "bad-promql": (
        _file(_slo("shop-x", RATIO_ERRORS.replace('{job="shop"}', '{job="shop"'))),
        "invalid PromQL",
    ),
    "reserved-label": (
        _file(_slo("shop-x", RATIO_ERRORS, "labels: {slo: mine}")),
        "'slo' is set by the generator and cannot be overridden",
    ),
    "duplicate-name": (
        _file(_slo("shop-x", RATIO_ERRORS), _slo("shop-x", PROBE)),
        "slo 'shop-x': name: already used by slo #1",
    ),
    # no page condition can fire at all: refused, not generated without alerts
    "no-page-can-fire": (
        _file(_slo("shop-x", RATIO_ERRORS, objective=50)),
        "objective: 50% leaves so much budget that no SLOErrorBudgetBurnPage condition can fire",
    ),
    "not-kebab-case": (
        _file(_slo("Shop_X", RATIO_ERRORS)),
        "name: String should match pattern",
    ),
}


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _generate(source: Path, root: Path) -> int:
    only = ["--only", "prometheus-rules", "--only", "alertmanager"]
    return main(["slo", "generate", "--file", str(source), "--root", str(root), *only])


def test_the_table_covers_what_it_promises() -> None:
    assert len(GOOD) + len(BAD) >= 15
    kinds = ("ratio", "latency", "probe", "freshness", "threshold", "cpu", "memory")
    assert all(any(f"\n      {k}:" in text for text in GOOD.values()) for k in kinds)


@pytest.mark.parametrize("name", GOOD)
def test_good_case(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLOLAB_ALERT_WEBHOOK_URL", raising=False)
    source = tmp_path / f"{name}.yaml"
    source.write_text(GOOD[name], encoding="utf-8")
    expected = CASES_DIR / name
    if os.environ.get("SLOLAB_UPDATE_GOLDEN"):
        shutil.rmtree(expected, ignore_errors=True)
        assert _generate(source, expected) == 0
    out = tmp_path / "out"
    assert _generate(source, out) == 0
    assert _tree(out) == _tree(expected)
    for rel in _tree(expected):
        assert filecmp.cmp(out / rel, expected / rel, shallow=False), rel


@pytest.mark.parametrize("name", BAD)
def test_bad_case(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, error = BAD[name]
    source = tmp_path / "slos.yaml"
    source.write_text(text, encoding="utf-8")
    assert main(["slo", "validate", "--file", str(source)]) == 2
    assert error in capsys.readouterr().err
