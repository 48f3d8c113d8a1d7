"""`slolab slo status` in a terminal: the rich table, its notes and the watch loop.

The figures come from :mod:`slolab.slo.status` and are formatted by
:mod:`slolab.slo.views`; only this module (the CLI's) draws with rich.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from slolab.slo import conventions as c
from slolab.slo.policy import PERIOD, Action
from slolab.slo.query import PrometheusError
from slolab.slo.status import SHOWN_WINDOWS, SLOStatus, State
from slolab.slo.views import NO_VALUE, burn_rate, duration, percent, span, time_left

__all__ = ["plain_lines", "render", "render_notes", "view", "watch"]


def _rate(value: float | None) -> Text:
    if value is None:
        return Text(NO_VALUE)
    style = "bold red" if value >= 14.4 else "yellow" if value > 1 else ""
    return Text(burn_rate(value), style=style)


_STATE_STYLE = {
    State.MEETING: "green",
    State.AT_RISK: "yellow",
    State.VIOLATING: "bold red",
    State.NO_DATA: "dim",
}
_ACTION_STYLE = {Action.NONE: "green", Action.NOTIFY: "yellow", Action.REVIEW: "yellow",
                 Action.FREEZE: "bold red"}  # fmt: skip


# Below this many columns the full table would squeeze every cell to "…": show the
# columns an operator watches (state, SLI, budget, fast burn, alerts) only.
COMPACT_BELOW = 150
# Below this (an 80-column terminal) even those get cut ("99.9…"): fewer columns, no
# vertical rules, the 1h burn only (what the page condition reads first).
NARROW_BELOW = 100
_SHORT_ALERT = {c.ALERT_PAGE: "PAGE", c.ALERT_TICKET: "ticket"}
_FULL_ONLY = {"service", "burn 6h", "burn period", "exhausted in", "policy"}
_NARROW_DROP = {*_FULL_ONLY, "target", "burn 5m"}
_NARROW_HEADER = {"SLI (period)": "SLI", "budget left": "budget", "alerts firing": "alerts"}
# Short headers from the compact width down: a header wider than its values takes the
# room the alerts need ("PAGE" squeezed out of a 100-column table).
_COMPACT_HEADER = {"SLI (period)": "SLI", "budget left": "budget"}


def render(
    statuses: Sequence[SLOStatus],
    *,
    title: str = "SLO status",
    compact: bool = False,
    narrow: bool = False,
) -> Table:
    """A rich table, one row per SLO (``compact``: the essential columns; ``narrow``: fewer)."""
    columns: list[tuple[str, str]] = [
        ("SLO", "left"), ("service", "left"), ("state", "left"), ("target", "right"),
        ("SLI (period)", "right"), ("over", "right"), ("budget left", "right"),
        *((f"burn {w}", "right") for w in SHOWN_WINDOWS),
        ("burn period", "right"), ("exhausted in", "right"), ("alerts firing", "left"),
        ("policy", "left"),
    ]  # fmt: skip
    dropped = _NARROW_DROP if narrow else _FULL_ONLY if compact else set()
    if (compact or narrow) and not any(s.partial for s in statuses):
        # Every figure covers its whole period: "over" would repeat it (the full
        # table keeps it); a short history brings it back, marked, with a note.
        dropped = {*dropped, "over"}
    keep = [name not in dropped for name, _ in columns]
    table = Table(title=title, title_justify="left")
    if narrow:
        table.box, table.pad_edge, table.padding = box.SIMPLE_HEAD, False, (0, 1)
    for (name, justify), shown in zip(columns, keep, strict=True):
        if shown:
            # Whole values or none: a number cut to "99.9…" reads as another number.
            header = (_NARROW_HEADER if narrow else _COMPACT_HEADER if compact else {}).get(
                name, name
            )
            table.add_column(header, justify=justify, no_wrap=name != "alerts firing",  # type: ignore[arg-type]
                             overflow="fold",
                             min_width=6 if name == "alerts firing" else None)  # fmt: skip
    for s in (row for status in statuses for row in (status, *status.periods)):
        left = s.budget_remaining
        left_style = (
            "" if left is None else "green" if left > 0.5 else "yellow" if left > 0 else "bold red"
        )
        cells = [
            # a further period of the SLO (periods: [30d, 7d]) on a row of its own
            f"{s.slo.name} ({s.window})" if s.window else s.slo.name,
            s.slo.service,
            Text(str(s.state), style=_STATE_STYLE[s.state]),
            percent(s.slo.objective, 2),
            percent(s.sli),
            Text(span(s), style="yellow" if s.partial else ""),
            Text(percent(left, 1), style=left_style),
            *(_rate(s.burn_rates.get(w)) for w in SHOWN_WINDOWS),
            _rate(s.burn_rates.get(PERIOD)),
            time_left(s.time_to_exhaustion) if s.has_data else NO_VALUE,
            Text(
                ", ".join(_SHORT_ALERT.get(a, a) if compact or narrow else a for a in s.alerts),
                style="bold red",
            ),
            # the policy decides on the first period only
            Text(NO_VALUE)
            if s.window
            else Text(s.decision.action.label, style=_ACTION_STYLE[s.decision.action]),
        ]
        table.add_row(*(cell for cell, shown in zip(cells, keep, strict=True) if shown))
    return table


def render_notes(statuses: Sequence[SLOStatus]) -> Text:
    """Policy reasons and missing data, below the table."""
    lines = []
    for s in (row for status in statuses for row in (status, *status.periods)):
        if s.window and not s.has_data:
            continue  # said once, for the SLO
        if not s.has_data:
            lines.append(f"{s.slo.name}: no recorded series (rules not loaded, or no traffic yet)")
        elif s.partial:
            lines.append(
                f"{s.slo.name}: period figures cover the last {span(s)} of its "
                f"{duration(s.slo.period)} (the aggregates' history so far)"
            )
        for reason in s.decision.reasons:
            lines.append(f"{s.slo.name}: {reason}")
    if any(s.slo.period != c.BASE_PERIOD for s in statuses):
        lines.append("burn windows are named for 30 days and scale with shorter periods")
    return Text("\n".join(lines), style="dim")


def view(
    statuses: Sequence[SLOStatus], title: str = "SLO status", *, width: int | None = None
) -> Group:
    """Table and notes; a terminal narrower than COMPACT_BELOW gets the compact table."""
    compact = width is not None and width < COMPACT_BELOW
    narrow = width is not None and width < NARROW_BELOW
    return Group(
        render(statuses, title=title, compact=compact, narrow=narrow), render_notes(statuses)
    )


def plain_lines(statuses: Sequence[SLOStatus], stamp: str) -> list[str]:
    """One ``key=value`` line per SLO, for logs and pipes (no table, no colour)."""
    lines = []
    for s in (row for status in statuses for row in (status, *status.periods)):
        rates = " ".join(f"burn_{w}={_rate(s.burn_rates.get(w)).plain}" for w in SHOWN_WINDOWS)
        window = f" window={s.window}" if s.window else ""
        lines.append(
            f"{stamp} {s.slo.name}{window} state={s.state.replace(' ', '-')} sli={percent(s.sli)} "
            f"budget={percent(s.budget_remaining, 1)} {rates} "
            f"alerts={','.join(s.alerts) or '-'}"
        )
    return lines


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def watch(
    fetch: Callable[[], list[SLOStatus]],
    interval: float,
    console: Console,
    *,
    iterations: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Refresh the table every ``interval`` seconds until Ctrl-C (or ``iterations``).

    Output that is not a terminal (a file, a pipe, CI) gets plain lines at every
    refresh instead: a live table would only be written once, at the end.
    """
    count = 0
    if not console.is_terminal:
        while iterations is None or count < iterations:
            stamp = _iso_now()
            try:
                lines = plain_lines(fetch(), stamp)
            except PrometheusError as exc:
                lines = [f"{stamp} error: {exc}"]
            for line in lines:
                console.out(line, highlight=False)
            console.file.flush()
            count += 1
            if iterations is None or count < iterations:
                sleep(interval)
        return
    with Live(console=console, auto_refresh=False) as live:
        while iterations is None or count < iterations:
            stamp = _iso_now()
            try:
                live.update(
                    view(fetch(), title=f"SLO status at {stamp}", width=console.width),
                    refresh=True,
                )
            except PrometheusError as exc:
                # Keep watching through a Prometheus restart.
                live.update(Text(f"{stamp} {exc}", style="bold red"), refresh=True)
            count += 1
            if iterations is None or count < iterations:
                sleep(interval)
