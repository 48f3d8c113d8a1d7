"""The soak benchmark's arithmetic and its doc update (the 10-minute run is `make soak`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import BEGIN, END, Result, _growth, write_doc

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

MIB = 2**20


def test_growth_compares_medians_after_warm_up() -> None:
    # 0-60 s warm-up climbing, then flat at 100 MiB, then 105 MiB in the last minute.
    samples = [(t, (50 + t) * MIB) for t in range(0, 60, 5)]
    samples += [(t, 100 * MIB) for t in range(60, 240, 5)]
    samples += [(t, 105 * MIB) for t in range(240, 300, 5)]
    g = _growth(samples, warmup=60)
    assert g["after_warmup"] == 100.0 and g["end"] == 105.0 and g["growth"] == 0.05
    assert g["start"] == 50.0 and g["peak"] == 105.0


def test_too_few_samples_is_an_error() -> None:
    with pytest.raises(SystemExit, match="too few"):
        _growth([(0, MIB), (10, MIB)], warmup=60)


def test_verdict() -> None:
    r = Result(600, 60, 5, 10, rss_mb={"tasks": {"growth": 0.02}}, server_errors={"tasks": 0})
    assert r.ok
    r.rss_mb["tasks"]["growth"] = 0.10
    assert not r.ok
    r.rss_mb["tasks"]["growth"], r.failures = 0.0, 1
    assert not r.ok


def test_the_doc_section_is_replaced_in_place(tmp_path: Path) -> None:
    doc = tmp_path / "reliability.md"
    doc.write_text(f"# R\n\nbefore\n\n{BEGIN}\nold\n{END}\n\nafter\n")
    write_doc(f"{BEGIN}\nnew\n{END}", doc)
    assert doc.read_text() == f"# R\n\nbefore\n\n{BEGIN}\nnew\n{END}\n\nafter\n"
