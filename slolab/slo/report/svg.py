"""A report's charts as inline SVG documents: no script, no external file."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from slolab.slo.views import duration, percent

if TYPE_CHECKING:
    from slolab.slo.report.analysis import Report, SLOReport

__all__ = [
    "SERIES_COLOURS",
    "DetectionLine",
    "burn_down_svg",
    "chart_svgs",
    "detection_chart",
    "line_chart",
]

# Line colours of multi-series charts (the report's and the simulator's).
SERIES_COLOURS = ("#cf222e", "#0969da", "#8250df", "#1a7f37", "#bf8700")


def _open(title: str, w: int, h: int, left: int) -> list[str]:
    """Every chart's frame: the SVG element (its title as accessible name) and the title."""
    return [
        f'<svg width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="18" font-size="13" font-weight="bold">{html.escape(title)}</text>',
    ]


def _line_chart(
    title: str,
    points: Sequence[tuple[datetime, float | None]],
    start: datetime,
    end: datetime,
    line: float,
    line_label: str,
    color: str,
    bands: Sequence[tuple[datetime, datetime, str]] = (),
) -> str:
    """An SVG line chart of ``points`` over time with a horizontal reference ``line``, and
    shaded time ``bands`` (start, end, colour) behind it."""

    def s(t: datetime) -> float:
        return (t - start).total_seconds()

    return line_chart(
        title,
        [(s(t), v) for t, v in points],
        (0.0, s(end)),
        line,
        line_label,
        color,
        x_labels=(f"{start:%Y-%m-%d %H:%M}", f"{end:%Y-%m-%d %H:%M}"),
        bands=[(s(a), s(b), fill) for a, b, fill in bands],
    )


def line_chart(
    title: str,
    points: Sequence[tuple[float, float | None]],
    x_range: tuple[float, float],
    line: float,
    line_label: str,
    color: str,
    *,
    x_labels: tuple[str, str],
    y_format: Callable[[float], str] = lambda v: percent(v, 2),
    bands: Sequence[tuple[float, float, str]] = (),
) -> str:
    """An SVG line chart of (x, value) ``points`` with a horizontal reference ``line``."""
    w, h, left, right, top, bottom = 520, 220, 64, 12, 28, 30
    values = [v for _, v in points if v is not None] + [line]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.01, hi + 0.01
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad
    first, last = x_range
    span = max(last - first, 1e-9)

    def x(t: float) -> float:
        return left + (w - left - right) * (t - first) / span

    def y(v: float) -> float:
        return top + (h - top - bottom) * (hi - v) / (hi - lo)

    parts = _open(title, w, h, left)
    for a, b, fill in bands:
        x0, x1 = x(max(a, first)), x(min(b, last))
        parts.append(
            f'<rect x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1.5):.1f}" '
            f'height="{h - top - bottom}" fill="{fill}" fill-opacity="0.3"/>'
        )
    for v in (lo + pad, hi - pad):
        parts.append(
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">'
            f"{html.escape(y_format(v))}</text>"
        )
    parts.append(
        f'<line x1="{left}" x2="{w - right}" y1="{y(line):.1f}" y2="{y(line):.1f}" '
        'stroke="#cf222e" stroke-dasharray="4 3"/>'
        f'<text x="{w - right}" y="{y(line) - 4:.1f}" font-size="10" text-anchor="end" '
        f'fill="#cf222e">{html.escape(line_label)}</text>'
    )
    segment: list[str] = []
    segments = []
    for t, v in points:
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(t):.1f},{y(v):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) == 1:
            cx, cy = seg[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{color}"/>')
        else:
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                f'points="{" ".join(seg)}"/>'
            )
    for t, label, anchor in ((first, x_labels[0], "start"), (last, x_labels[1], "end")):
        parts.append(
            f'<text x="{x(t):.1f}" y="{h - 10}" font-size="10" text-anchor="{anchor}">'
            f"{html.escape(label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _svgs(r: SLOReport) -> list[str]:
    return [
        _line_chart(f"SLI per {duration(r.step)}", r.sli_points, r.start, r.end,
                   r.slo.objective, f"objective {percent(r.slo.objective, 2)}", "#0969da"),
        _line_chart("Error budget left", list(r.budget_points), r.start, r.end, 0.0, "exhausted",
                   "#8250df"),
    ]  # fmt: skip


def burn_down_svg(
    title: str,
    points: Sequence[tuple[datetime, float | None]],
    start: datetime,
    end: datetime,
    episodes: Sequence[tuple[datetime, datetime, bool]],
) -> str:
    """Budget left over a window with alert episodes (start, end, is a page) shaded."""
    bands = [(a, b, "#cf222e" if page else "#bf8700") for a, b, page in episodes]
    return _line_chart(title, points, start, end, 0.0, "exhausted", "#8250df", bands)


def chart_svgs(report: Report) -> dict[str, list[str]]:
    """Per SLO its two charts (SLI, budget left) as SVG documents (HTML and PDF)."""
    return {r.slo.name: _svgs(r) for r in report.slos}


@dataclass(frozen=True)
class DetectionLine:
    """One alert of a detection chart: the formula's times (a dashed line) and the
    measured ones (dots), each (error ratio, seconds or None: never)."""

    name: str
    formula: Sequence[tuple[float, float | None]]
    measured: Sequence[tuple[float, float | None]]


def detection_chart(title: str, ratios: Sequence[float], lines: Sequence[DetectionLine]) -> str:
    """Time to alert against error ratio, log-log: measured dots, the formula's dashes."""
    w, h, left, right, top, bottom = 680, 300, 70, 170, 28, 40
    secs = [v for line in lines for _, v in (*line.formula, *line.measured) if v]
    if not secs or not ratios:
        return "<p>No alert fires for these error ratios.</p>"
    x_lo, x_hi = math.log10(min(ratios)) - 0.1, math.log10(max(ratios)) + 0.1
    y_lo, y_hi = math.log10(min(secs)) - 0.1, math.log10(max(secs)) + 0.1

    def x(v: float) -> float:
        return left + (w - left - right) * (math.log10(v) - x_lo) / (x_hi - x_lo)

    def y(v: float) -> float:
        return top + (h - top - bottom) * (y_hi - math.log10(v)) / (y_hi - y_lo)

    parts = _open(title, w, h, left)
    for r in ratios:
        parts.append(f'<text x="{x(r):.1f}" y="{h - 22}" font-size="10" text-anchor="middle">'
                     f"{percent(r, None)}</text>")  # fmt: skip
    for v in sorted({min(secs), max(secs)}):
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">'
                     f"{html.escape(duration(v))}</text>")  # fmt: skip
    for i, line in enumerate(lines):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        coords = " ".join(f"{x(e):.1f},{y(v):.1f}" for e, v in line.formula if v)
        if coords:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-dasharray="4 3" '
                         f'points="{coords}"/>')  # fmt: skip
        for e, v in line.measured:
            if v is not None:
                parts.append(f'<circle cx="{x(e):.1f}" cy="{y(max(v, 1e-3)):.1f}" r="3.5" '
                             f'fill="{colour}"/>')  # fmt: skip
        parts.append(f'<text x="{w - right + 8}" y="{top + 16 * i + 10}" font-size="9" '
                     f'fill="{colour}">{html.escape(line.name)}</text>')  # fmt: skip
    parts.append(f'<text x="{w - right + 8}" y="{top + 16 * len(lines) + 14}" font-size="10">'
                 "dots: promtool; dashes: Workbook</text>")  # fmt: skip
    parts.append(f'<text x="{(left + w - right) / 2:.0f}" y="{h - 6}" font-size="10" '
                 'text-anchor="middle">error ratio (log)</text></svg>')  # fmt: skip
    return "".join(parts)
