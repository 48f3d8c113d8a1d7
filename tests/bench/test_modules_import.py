"""Every benchmark still imports: benchmarks run by hand (docs/benchmarks.md), not in
`make test`, so a module moved under them (bench/wrk.py into slolab/wrk.py) would
otherwise go unnoticed until someone reruns a documented command."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("name", sorted(p.stem for p in BENCH.glob("*.py")))
def test_the_benchmark_imports(name: str) -> None:
    importlib.import_module(f"bench.{name}")
