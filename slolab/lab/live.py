"""The live SLO table the lab shows until Ctrl-C.

Reads the recorded SLO series from Prometheus (the same names the rules and
dashboards use), so the table shows what alerting sees.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

__all__ = ["SLORow", "fetch_rows", "render_table", "watch"]


@dataclass
class SLORow:
    slo: str
    service: str
    objective: float
    sli_period: float | None = None
    sli_short: float | None = None  # over the shortest alert window (5m for 30 days)
    budget_left: float | None = None
    burn_rate: float | None = None
    alerts: tuple[str, ...] = ()


_QUERIES = {
    "objective": "slo:objective:ratio",
    "sli_period": "1 - slo:sli_error:ratio_period",
    "budget_left": "slo:period_error_budget_remaining:ratio",
    "burn_rate": "slo:current_burn_rate:ratio",
}


def _query(client: httpx.Client, base: str, expr: str) -> list[dict]:
    resp = client.get(f"{base}/api/v1/query", params={"query": expr})
    resp.raise_for_status()
    return resp.json()["data"]["result"]


def _value(sample: dict) -> float | None:
    v = float(sample["value"][1])
    return None if math.isnan(v) else v


def fetch_rows(client: httpx.Client, prometheus_url: str) -> list[SLORow]:
    """One row per SLO that has an objective recorded in Prometheus."""
    rows: dict[str, SLORow] = {}
    for sample in _query(client, prometheus_url, _QUERIES["objective"]):
        m = sample["metric"]
        if "slo" in m:
            rows[m["slo"]] = SLORow(m["slo"], m.get("service", ""), _value(sample) or 0.0)
    for attr, expr in _QUERIES.items():
        if attr == "objective":
            continue
        for sample in _query(client, prometheus_url, expr):
            row = rows.get(sample["metric"].get("slo", ""))
            if row is not None:
                setattr(row, attr, _value(sample))
    for row in rows.values():
        if row.burn_rate is not None:
            row.sli_short = 1 - row.burn_rate * (1 - row.objective)
    for sample in _query(client, prometheus_url, 'ALERTS{alertstate="firing"}'):
        m = sample["metric"]
        row = rows.get(m.get("slo", ""))
        if row is not None:
            row.alerts = (*row.alerts, f"{m.get('alertname', '?')}({m.get('severity', '')})")
    return sorted(rows.values(), key=lambda r: (r.service, r.slo))


def _pct(v: float | None, digits: int = 3) -> str:
    return "—" if v is None else f"{v * 100:.{digits}f}%"


def _styled(text: str, style: str) -> str:
    return f"[{style}]{text}[/]" if style and text else text


def _budget_style(left: float | None) -> str:
    if left is None:
        return ""
    return "green" if left > 0.5 else "yellow" if left > 0 else "bold red"


def render_table(rows: list[SLORow], *, title: str = "SLOs") -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    for col, justify in (
        ("SLO", "left"),
        ("target", "right"),
        ("SLI (period)", "right"),
        ("SLI (now)", "right"),
        ("budget left", "right"),
        ("burn rate", "right"),
        ("alerts firing", "left"),
    ):
        table.add_column(col, justify=justify, no_wrap=col == "SLO")  # type: ignore[arg-type]
    for r in rows:
        budget = _styled(_pct(r.budget_left, 1), _budget_style(r.budget_left))
        burn = "—" if r.burn_rate is None else f"{r.burn_rate:.2f}x"
        burn_style = (
            "bold red" if (r.burn_rate or 0) >= 14.4 else "yellow" if (r.burn_rate or 0) > 1 else ""
        )
        table.add_row(
            r.slo,
            _pct(r.objective, 2),
            _pct(r.sli_period),
            _pct(r.sli_short),
            budget,
            _styled(burn, burn_style),
            _styled(", ".join(r.alerts), "bold red"),
        )
    if not rows:
        table.add_row(
            "(no SLO series yet: Prometheus evaluates the rules every interval)", *[""] * 6
        )
    return table


def watch(
    prometheus_url: str,
    *,
    check: Callable[[], None],
    console: Console,
    refresh: float = 5.0,
    footer: str = "",
) -> None:
    """Redraw the table every ``refresh`` seconds until interrupted; ``check`` raises on trouble."""
    with httpx.Client(timeout=5.0) as client, Live(console=console, auto_refresh=False) as live:
        while True:
            check()
            stamp = time.strftime("%H:%M:%S")
            try:
                table = render_table(fetch_rows(client, prometheus_url), title=f"SLOs at {stamp}")
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                table = Table(title=f"SLOs at {stamp}: cannot query Prometheus ({exc})")
            if footer:
                table.caption = footer
            live.update(table, refresh=True)
            time.sleep(refresh)
