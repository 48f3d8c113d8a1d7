"""bench.rulecost's inputs, without Prometheus: every SLO of slos.yaml (and of the
generated spec) gets raw series, and the recorded inputs the anchors and our
aggregates read, from the same traffic."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bench.rulecost import (
    DAY,
    REPO,
    SCRAPE,
    SLOTH_RATIO,
    aggregates_history,
    derive_series,
    recorded_history,
    sli_events,
    slo_series,
    synthetic_spec,
)
from slolab.slo import conventions as c
from slolab.slo import promql
from slolab.slo.model import from_spec, load
from slolab.slo.spec import parse_spec
from slolab.slo.synthetic import selects
from tests.slo.specs import RESOURCE_SLOS

SHIPPED = load(REPO / "slos.yaml")
START = 1_700_000_000 - 1_700_000_000 % DAY


def _slos_in(files: list[Path], metric: str) -> set[str]:
    """The ``slo`` label of every ``metric`` line in the written OpenMetrics files."""
    pattern = re.compile(rf'^{re.escape(metric)}\{{.*?\b{c.LABEL_SLO}="([^"]+)"', re.M)
    return {name for f in files for name in pattern.findall(f.read_text())}


def test_every_shipped_slo_has_raw_series_and_recorded_inputs(tmp_path: Path) -> None:
    series = derive_series(SHIPPED)
    names = {s.name for s in SHIPPED}
    rec = recorded_history(SHIPPED, series, START, 1, tmp_path)
    assert _slos_in(rec, SLOTH_RATIO) == names
    fresh = {s.name for s in SHIPPED if s.sli.kind == "freshness"}
    assert _slos_in(rec, c.RULE_GOOD_SAMPLE) == fresh
    agg = aggregates_history(SHIPPED, series, START, 1, tmp_path)
    assert _slos_in(agg, c.RULE_EVENTS_AGGREGATE) == names


@pytest.mark.parametrize("slo", SHIPPED, ids=lambda s: s.name)
def test_each_slo_selects_its_own_series_and_sees_traffic(slo) -> None:
    own = slo_series(slo)
    for s in own:
        assert any(selects(sel, s.name, dict(s.labels)) for sel in _selectors(slo)), s
    times = np.arange(START, START + DAY, SCRAPE, dtype=float)
    total, bad = sli_events(slo, derive_series(SHIPPED), times)
    assert total.sum() > 0
    assert 0 <= bad.sum() < total.sum()  # some events, not all of them bad


def test_the_generated_spec_is_covered_too(tmp_path: Path) -> None:
    slos = from_spec(parse_spec(synthetic_spec(6), "bench"))
    rec = recorded_history(slos, derive_series(slos), START, 1, tmp_path)
    assert _slos_in(rec, SLOTH_RATIO) == {s.name for s in slos}


def test_an_sli_without_synthetic_traffic_is_named() -> None:
    slos = from_spec(parse_spec(RESOURCE_SLOS, "resources"))
    with pytest.raises(ValueError, match=r"tasks-cpu.*cpu SLI"):
        derive_series(slos)


def _selectors(slo) -> tuple[str, ...]:
    sli = slo.sli
    return promql.selectors(sli) if sli.kind != "freshness" else (sli.source,)
