"""Live SLO status from the recorded series: what the alerts and dashboards see.

One instant query fetches every recorded SLO series (names from
:mod:`slolab.slo.conventions`), one more the alerts; the SLO file adds the
objective, period and policy. Burn rates are shown for the windows named as
for 30 days (5m, 1h, 6h) and read from the series of the SLO's own (scaled)
windows, as the alerts do.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from slolab.slo import budget
from slolab.slo import conventions as c
from slolab.slo.durations import format_duration, parse_duration
from slolab.slo.model import SLO
from slolab.slo.policy import PERIOD, WINDOWS, Action, Decision, Facts, Policies
from slolab.slo.query import Prometheus, PrometheusError

__all__ = [
    "SHOWN_WINDOWS",
    "SLOStatus",
    "collect",
    "format_timedelta",
    "plain_lines",
    "render",
    "span",
    "watch",
]

SHOWN_WINDOWS = ("5m", "1h", "6h")
# Time to exhaustion is forecast from the 1h burn: the 5m one is too jumpy to extrapolate.
FORECAST_WINDOW = "1h"


@dataclass(frozen=True)
class SLOStatus:
    slo: SLO
    sli: float | None  # over the period
    budget_remaining: float | None
    burn_rates: dict[str, float | None]  # by 30-day window name, and "period"
    alerts: tuple[str, ...] = ()
    decision: Decision = field(default_factory=lambda: Decision(Action.NONE))
    # Seconds of history the period figures cover (slo:period_coverage:seconds);
    # less than the period while the aggregates are younger than it. None: unknown.
    coverage: float | None = None

    @property
    def partial(self) -> bool:
        """The period figures cover less than the period."""
        return self.coverage is not None and self.coverage < self.slo.period.total_seconds()

    @property
    def has_data(self) -> bool:
        return self.sli is not None

    @property
    def time_to_exhaustion(self) -> timedelta | None:
        """At the current (1h) burn rate; None: never, or unknown without data."""
        rate = self.burn_rates.get(FORECAST_WINDOW)
        if self.budget_remaining is None or rate is None:
            return None
        return budget.time_to_exhaustion(self.budget_remaining, rate, self.slo.period)

    @property
    def state(self) -> str:
        """``no data``, ``violating`` (budget spent), ``at risk`` or ``meeting``."""
        if not self.has_data:
            return "no data"
        if self.budget_remaining is not None and budget.is_exhausted(self.budget_remaining):
            return "violating"
        if self.alerts or self.decision.action > Action.NONE:
            return "at risk"
        return "meeting"


def _clamp(ratio: float) -> float:
    # Recorded ratios can stray a hair outside [0, 1] (counter resets, float noise).
    return min(max(ratio, 0.0), 1.0)


def _wanted_names() -> str:
    """Regex of the recorded names status reads (every window, whatever its scaled name)."""
    return "|".join(
        [
            c.RULE_ERROR_RATIO_PERIOD,
            c.RULE_BUDGET_REMAINING,
            c.RULE_PERIOD_COVERAGE,
            f"{c.error_ratio_rule('')}.+",
        ]
    )


def _aggregate_windows(
    prom: Prometheus, slos: Sequence[SLO], policies: Policies | None
) -> dict[tuple[str, str], float | None]:
    """Error ratios of the windows read from the aggregates (not recorded), by (slo, window).

    Only the windows some policy rule needs: one query per distinct window.
    """
    wanted: dict[str, list[SLO]] = {}
    for slo in slos:
        policy = policies.for_slo(slo.name) if policies else slo.policy
        for rule in policy.rules:
            for w in rule.windows:
                if w != PERIOD and slo.from_aggregates(slo.scaled(parse_duration(w))):
                    wanted.setdefault(slo.scaled(parse_duration(w)), []).append(slo)
    out: dict[tuple[str, str], float | None] = {}
    for window, members in wanted.items():
        names = "|".join(sorted({s.name for s in members}))
        expr = (
            f"sum by ({c.LABEL_SLO}, {c.LABEL_EVENTS}) (sum_over_time("
            f'{c.RULE_EVENTS_AGGREGATE}{{{c.LABEL_SLO}=~"{names}"}}[{window}]))'
        )
        sums: dict[tuple[str, str], float | None] = {}
        for sample in prom.query(expr):
            sums[(sample.labels.get(c.LABEL_SLO, ""), sample.labels.get(c.LABEL_EVENTS, ""))] = (
                sample.value
            )
        for slo in members:
            bad, total = sums.get((slo.name, c.EVENTS_ERRORS)), sums.get((slo.name, c.EVENTS_TOTAL))
            ratio = None if bad is None or not total else bad / total
            out[(slo.name, window)] = ratio
    return out


def collect(
    prom: Prometheus, slos: Sequence[SLO], policies: Policies | None = None
) -> list[SLOStatus]:
    """Status of every SLO in ``slos`` from the series Prometheus recorded."""
    values: dict[tuple[str, str], float | None] = {}
    for sample in prom.query(f'{{__name__=~"{_wanted_names()}"}}'):
        name, slo_name = sample.labels.get("__name__", ""), sample.labels.get(c.LABEL_SLO)
        if slo_name is not None:
            values[(slo_name, name)] = sample.value
    firing: dict[str, list[str]] = {}
    for alert in prom.alerts():
        slo_name = alert.labels.get(c.LABEL_SLO)
        if alert.state == "firing" and slo_name:
            firing.setdefault(slo_name, []).append(alert.name)

    from_aggregates = _aggregate_windows(prom, slos, policies)
    statuses = []
    for slo in slos:
        period_ratio = values.get((slo.name, c.RULE_ERROR_RATIO_PERIOD))
        sli = None if period_ratio is None else 1 - _clamp(period_ratio)
        remaining = values.get((slo.name, c.RULE_BUDGET_REMAINING))
        if remaining is None and sli is not None:
            remaining = budget.remaining_budget(sli, slo.objective)
        rates: dict[str, float | None] = {}
        for window in WINDOWS:
            scaled = slo.scaled(parse_duration(window))
            ratio = values.get((slo.name, c.error_ratio_rule(scaled)))
            if ratio is None:
                ratio = from_aggregates.get((slo.name, scaled))
            rates[window] = (
                None if ratio is None else budget.burn_rate(_clamp(ratio), slo.objective)
            )
        rates[PERIOD] = (
            None if period_ratio is None else budget.burn_rate(_clamp(period_ratio), slo.objective)
        )
        # An explicit policy file wins; else the SLO's own (slos.yaml `policy:`).
        policy = policies.for_slo(slo.name) if policies else slo.policy
        coverage = values.get((slo.name, c.RULE_PERIOD_COVERAGE))
        share = None if coverage is None else coverage / slo.period.total_seconds()
        decision = policy.evaluate(Facts(remaining, rates, share))
        alerts = tuple(sorted(firing.get(slo.name, [])))
        statuses.append(SLOStatus(slo, sli, remaining, rates, alerts, decision, coverage))
    return statuses


# --- rendering -------------------------------------------------------------------


def format_timedelta(value: timedelta | None) -> str:
    """``never`` for None, else the two largest units, e.g. ``3d4h`` or ``12m``."""
    if value is None:
        return "never"
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "exhausted"
    if seconds < 60:
        return f"{seconds}s"
    return "".join(re.findall(r"\d+[dhm]", format_duration(seconds - seconds % 60))[:2])


def _pct(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _rate(value: float | None) -> Text:
    if value is None:
        return Text("-")
    style = "bold red" if value >= 14.4 else "yellow" if value > 1 else ""
    return Text(f"{value:.2f}x", style=style)


_STATE_STYLE = {"meeting": "green", "at risk": "yellow", "violating": "bold red", "no data": "dim"}
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


def span(s: SLOStatus) -> str:
    """What the period figures cover: the period, or the shorter history they have."""
    if s.coverage is None:
        return s.slo.period_str if s.has_data else "-"
    if not s.partial:
        return s.slo.period_str
    return format_timedelta(timedelta(seconds=s.coverage))


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
    for s in statuses:
        left = s.budget_remaining
        left_style = (
            "" if left is None else "green" if left > 0.5 else "yellow" if left > 0 else "bold red"
        )
        cells = [
            s.slo.name,
            s.slo.service,
            Text(s.state, style=_STATE_STYLE[s.state]),
            _pct(s.slo.objective, 2),
            _pct(s.sli),
            Text(span(s), style="yellow" if s.partial else ""),
            Text(_pct(left, 1), style=left_style),
            *(_rate(s.burn_rates.get(w)) for w in SHOWN_WINDOWS),
            _rate(s.burn_rates.get(PERIOD)),
            format_timedelta(s.time_to_exhaustion) if s.has_data else "-",
            Text(
                ", ".join(_SHORT_ALERT.get(a, a) if compact or narrow else a for a in s.alerts),
                style="bold red",
            ),
            Text(s.decision.action.label, style=_ACTION_STYLE[s.decision.action]),
        ]
        table.add_row(*(cell for cell, shown in zip(cells, keep, strict=True) if shown))
    return table


def render_notes(statuses: Sequence[SLOStatus]) -> Text:
    """Policy reasons and missing data, below the table."""
    lines = []
    for s in statuses:
        if not s.has_data:
            lines.append(f"{s.slo.name}: no recorded series (rules not loaded, or no traffic yet)")
        elif s.partial:
            lines.append(
                f"{s.slo.name}: period figures cover the last {span(s)} of its "
                f"{s.slo.period_str} (the aggregates' history so far)"
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
    for s in statuses:
        rates = " ".join(f"burn_{w}={_rate(s.burn_rates.get(w)).plain}" for w in SHOWN_WINDOWS)
        lines.append(
            f"{stamp} {s.slo.name} state={s.state.replace(' ', '-')} sli={_pct(s.sli)} "
            f"budget={_pct(s.budget_remaining, 1)} {rates} "
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
