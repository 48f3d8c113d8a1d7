"""A real Prometheus on a free loopback port, holding history written by the test.

The test lists series as ``{labels...}`` → ``[(unix time, value), ...]``; they
are written as OpenMetrics, turned into TSDB blocks by ``promtool tsdb
create-blocks-from openmetrics`` and served by ``prometheus`` (no scrape
targets). Queries then run on the real engine, over the real API.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from slolab.lab.prometheus import PrometheusServer

needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="needs prometheus and promtool",
)

Points = Sequence[tuple[float, float]]


def _openmetrics(series: Mapping[str, Points]) -> str:
    families: dict[str, list[str]] = {}
    for key, points in series.items():
        name = key.split("{", 1)[0]
        lines = families.setdefault(name, [])
        lines += [f"{key} {value:g} {t:.3f}" for t, value in points]
    out = []
    for name, lines in families.items():
        out.append(f"# TYPE {name} unknown")
        out += lines
    return "\n".join([*out, "# EOF", ""])


@contextmanager
def backfilled_prometheus(folder: Path, series: Mapping[str, Points]) -> Iterator[str]:
    """Start Prometheus on ``series``; yield its base URL; stop it afterwards."""
    data = folder / "data"
    source = folder / "history.om"
    source.write_text(_openmetrics(series), encoding="utf-8")
    proc = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    with serve_tsdb(data, folder) as url:
        yield url


@contextmanager
def serve_tsdb(data: Path, folder: Path) -> Iterator[str]:
    """Start Prometheus on the TSDB ``data`` (no targets, no rules); yield its base URL."""
    config = folder / "prometheus.yml"
    config.write_text("global: {evaluation_interval: 30s}\n", encoding="utf-8")
    with PrometheusServer(config, data, folder / "prometheus.log", retention="400d") as server:
        yield server.url


def counter(
    start: float, end: float, step: float, rate_of: Callable[[float], float]
) -> list[tuple[float, float]]:
    """A counter sampled every ``step`` from ``start``: increments ``rate_of(t) * step``."""
    points, value, t = [], 0.0, start
    while t <= end:
        points.append((t, value))
        value += rate_of(t) * step
        t += step
    return points


def firing(start: float, end: float, step: float = 30.0) -> list[tuple[float, float]]:
    """ALERTS samples of one firing episode: value 1 at every evaluation in [start, end]."""
    n = int((end - start) // step)
    return [(start + k * step, 1.0) for k in range(n + 1)]
