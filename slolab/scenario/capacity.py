"""``slolab scenario capacity``: the highest offered rate that holds an SLO.

Offers load in steps of constant rate (wrk, paced by ``slolab/lua/pace.lua``),
and after each step reads the SLO's burn rate over the step from Prometheus
(the SLO's own error ratio over ``window``, divided by its budget). The first
step that burns faster than 1x, or that the generator cannot deliver, ends the
run; the rate of the step before it is the capacity. Each step records the
achieved rate, p50/p99, errors and the services' CPU (their
``process_cpu_seconds_total``: the whole server tree, slolab/procmetrics.py).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from slolab.errors import CLIError
from slolab.slo.views import NO_VALUE, burn_rate

__all__ = ["Load", "Plan", "Result", "Step", "add_parser", "find_capacity", "to_markdown"]

# A step offered this share of its rate or less was not delivered: the
# generator (or the connections) saturated, so the SLO reading proves nothing.
DELIVERED_SHARE = 0.9
WORKLOADS = ("get", "create_task", "predict")


@dataclass(frozen=True)
class Load:
    """What the generator measured over one step."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers and socket errors

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Step:
    rate: float  # offered, requests/s
    load: Load
    burn: float | None  # the SLO's burn rate over the step; None: no data
    cpu: Mapping[str, float | None]  # cores per service over the step
    held: bool


@dataclass(frozen=True)
class Plan:
    step: float = 100.0
    max_rate: float = 2000.0
    step_seconds: float = 60.0
    start: float | None = None  # first rate; default: one step
    warmup_seconds: float = 10.0  # at the first rate, not scored: series exist, caches warm

    def rates(self) -> list[float]:
        if self.step <= 0 or self.max_rate <= 0 or self.step_seconds <= 0:
            raise CLIError("--step, --max-rate and --step-duration must be above 0")
        first = self.start or self.step
        if first > self.max_rate:
            raise CLIError(f"the first rate {first:g}/s is above --max-rate {self.max_rate:g}/s")
        count = int((self.max_rate - first) / self.step + 1e-9) + 1
        return [first + i * self.step for i in range(count)]


@dataclass
class Result:
    slo: str
    steps: list[Step] = field(default_factory=list)
    stopped: str = "max rate reached, the SLO held"

    @property
    def capacity(self) -> float | None:
        """The highest offered rate that held the SLO (None: not even the first)."""
        held = [s.rate for s in self.steps if s.held]
        return max(held) if held else None


def find_capacity(
    plan: Plan,
    drive: Callable[[float, float], Load],
    burn: Callable[[float, float], float | None],
    cpu: Callable[[], Mapping[str, float | None]],
    slo: str,
    progress: Callable[[str], None] = lambda _: None,
) -> Result:
    """Raise the rate step by step until ``slo`` burns faster than 1x; return every step.

    ``drive(rate, seconds)`` offers the load, ``burn(start, end)`` reads the burn
    rate over that span (unix seconds), ``cpu()`` the services' CPU seconds so far.
    """
    result = Result(slo)
    rates = plan.rates()
    if plan.warmup_seconds > 0:
        progress(f"warm-up: {rates[0]:g} req/s for {plan.warmup_seconds:g}s ...")
        drive(rates[0], plan.warmup_seconds)
    for i, rate in enumerate(rates, 1):
        progress(f"step {i}/{len(rates)}: {rate:g} req/s for {plan.step_seconds:g}s ...")
        before, start = cpu(), time.time()
        load = drive(rate, plan.step_seconds)
        end = time.time()
        cores = {
            name: (after - before[name]) / (end - start)
            if after is not None and before.get(name) is not None
            else None
            for name, after in cpu().items()
        }
        reading = burn(start, end)
        delivered = load.rps >= DELIVERED_SHARE * rate
        held = reading is not None and reading <= 1.0 and delivered
        result.steps.append(Step(rate, load, reading, cores, held))
        shown = burn_rate(reading, missing="no data")
        progress(
            f"step {i}/{len(rates)}: {rate:g} req/s offered, {load.rps:.0f} achieved, "
            f"p99 {load.p99_ms:.0f} ms, burn {shown}: {'held' if held else 'NOT held'}"
        )
        if reading is None:
            result.stopped = f"no SLO reading at {rate:g} req/s (is Prometheus scraping?)"
            break
        if not delivered:
            result.stopped = f"only {load.rps:.0f} of {rate:g} req/s delivered"
            break
        if not held:
            result.stopped = f"burn {reading:.2f}x > 1x at {rate:g} req/s"
            break
    return result


# --- the real parts: wrk, Prometheus, the services' /metrics ---------------------------


def wrk_driver(
    url: str, workload: str, connections: int, threads: int
) -> Callable[[float, float], Load]:
    from slolab import wrk

    def drive(rate: float, seconds: float) -> Load:
        with tempfile.TemporaryDirectory(prefix="slolab-capacity-") as tmp:
            lua = wrk.script(None if workload == "get" else workload, rate, Path(tmp))
            argv = wrk.command(url, seconds=seconds, threads=threads, connections=connections,
                               lua=lua, rate=rate)  # fmt: skip
            try:
                res, _ = wrk.run(argv, limit_s=seconds + 30)
            except wrk.WrkError as exc:
                raise CLIError(str(exc)) from None
        return Load(res.requests, res.seconds, res.p50, res.p99, res.errors)

    return drive


def prometheus_burn(prometheus: str, slo, settle: float) -> Callable[[float, float], float | None]:  # type: ignore[no-untyped-def]
    """The SLO's error ratio over the step (its own PromQL), divided by its budget."""

    from slolab.slo import promql  # the toolkit: only when a run asks for it

    def burn(start: float, end: float) -> float | None:
        time.sleep(settle)  # the step's last scrapes
        window = f"{max(1, round(end - start))}s"
        try:
            params = {"query": promql.error_ratio(slo, window, func="increase"), "time": end}
            resp = httpx.get(f"{prometheus}/api/v1/query", params=params, timeout=30)
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise CLIError(f"cannot query Prometheus at {prometheus}: {exc}") from None
        if body.get("status") != "success":
            raise CLIError(f"Prometheus at {prometheus}: {body.get('error')}")
        result = body["data"]["result"]
        if not result:
            return None
        return float(result[0]["value"][1]) / slo.error_budget

    return burn


def metrics_cpu(services: Mapping[str, str]) -> Callable[[], dict[str, float | None]]:
    """Each service's ``process_cpu_seconds_total`` from its /metrics (None: unreachable)."""

    def read() -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name, url in services.items():
            try:
                text = httpx.get(f"{url.rstrip('/')}/metrics", timeout=5).text
            except httpx.HTTPError:
                out[name] = None
                continue
            out[name] = next(
                (s.value for f in text_string_to_metric_families(text)
                 for s in f.samples if s.name == "process_cpu_seconds_total"),
                None,
            )  # fmt: skip
        return out

    return read


# --- rendering -------------------------------------------------------------------------


def _cells(step: Step, services: list[str]) -> list[str]:
    burn = burn_rate(step.burn, missing="no data")
    cpu = [NO_VALUE if (v := step.cpu.get(s)) is None else f"{v:.2f}" for s in services]
    return [f"{step.rate:g}", f"{step.load.rps:.0f}", f"{step.load.p50_ms:.1f}",
            f"{step.load.p99_ms:.1f}", f"{step.load.errors}", burn, *cpu,
            "held" if step.held else "NOT held"]  # fmt: skip


def _services(result: Result) -> list[str]:
    return sorted({name for s in result.steps for name in s.cpu})


def _summary(result: Result) -> str:
    cap = result.capacity
    found = f"{cap:g} req/s" if cap is not None else "none (the first step did not hold)"
    return f"Capacity under {result.slo}: {found}; stopped: {result.stopped}."


def to_markdown(result: Result) -> str:
    services = _services(result)
    head = ["offered req/s", "achieved req/s", "p50 ms", "p99 ms", "errors", "burn",
            *(f"{s} CPU (cores)" for s in services), "SLO"]  # fmt: skip
    rows = [head, ["---"] * len(head)] + [_cells(s, services) for s in result.steps]
    return "\n".join("| " + " | ".join(r) + " |" for r in rows) + f"\n\n{_summary(result)}\n"


def to_terminal(result: Result) -> str:
    services = _services(result)
    head = ["offered", "achieved", "p50 ms", "p99 ms", "errors", "burn",
            *(f"{s} cores" for s in services), "SLO"]  # fmt: skip
    rows = [head] + [_cells(s, services) for s in result.steps]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines) + f"\n\n{_summary(result)}\n"


def to_svg(result: Result) -> str:
    from slolab.slo.report.svg import line_chart

    pts = [(s.rate, s.burn) for s in result.steps]
    rates = [s.rate for s in result.steps] or [0.0, 1.0]
    return line_chart(
        f"{result.slo}: burn rate by offered load", pts, (min(rates), max(rates)), 1.0,
        "1x: the budget lasts the period", "#0969da",
        x_labels=(f"{min(rates):g} req/s", f"{max(rates):g} req/s"), y_format=burn_rate,
    )  # fmt: skip


def to_html(result: Result) -> str:
    from slolab.slo.report.svg import line_chart

    rates = [s.rate for s in result.steps] or [0.0, 1.0]
    p99 = line_chart(
        "p99 latency (ms) by offered load", [(s.rate, s.load.p99_ms) for s in result.steps],
        (min(rates), max(rates)), max((s.load.p99_ms for s in result.steps), default=0.0),
        "highest", "#8250df", x_labels=(f"{min(rates):g} req/s", f"{max(rates):g} req/s"),
        y_format=lambda v: f"{v:.0f} ms",
    )  # fmt: skip
    services = _services(result)
    head = ["offered req/s", "achieved req/s", "p50 ms", "p99 ms", "errors", "burn",
            *(f"{s} CPU (cores)" for s in services), "SLO"]  # fmt: skip
    table = "".join(
        "<tr>" + "".join(f"<{t}>{html.escape(c)}</{t}>" for c in row) + "</tr>"
        for t, row in [("th", head)] + [("td", _cells(s, services)) for s in result.steps]
    )
    return (
        f"<!doctype html><meta charset='utf-8'><title>Capacity under {html.escape(result.slo)}"
        f"</title><h1>Capacity under {html.escape(result.slo)}</h1>"
        f"<p>{html.escape(_summary(result))}</p><table border='1' cellpadding='4'>{table}</table>"
        f"<p>{to_svg(result)}</p><p>{p99}</p>\n"
    )


def to_json(result: Result) -> str:
    body = {"slo": result.slo, "capacity_rps": result.capacity, "stopped": result.stopped,
            "steps": [asdict(s) | {"achieved_rps": s.load.rps} for s in result.steps]}  # fmt: skip
    return json.dumps(body, indent=2) + "\n"


# --- the command ------------------------------------------------------------------------


def _pairs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, url = item.partition("=")
        if not sep or not name or not url:
            raise CLIError(f"--service: expected NAME=URL, got {item!r}")
        out[name] = url
    return out


def _cmd(args: argparse.Namespace) -> int:
    import slolab.slo as slo_pkg
    from slolab.lab.config import repo_root

    path = Path(args.slos or repo_root() / "slos.yaml")
    try:
        slos = {s.name: s for s in slo_pkg.load(path)}
    except (OSError, ValueError) as exc:
        raise CLIError(f"{path}: {exc}") from None
    if args.slo not in slos:
        raise CLIError(f"--slo: no SLO named {args.slo!r} in {path} ({', '.join(slos)})")
    if args.connections < 1 or args.threads < 1 or args.settle < 0:
        raise CLIError("--connections and --threads must be 1 or more, --settle 0 or more")
    if args.warmup < 0:
        raise CLIError("--warmup must be 0 or more")
    plan = Plan(args.step, args.max_rate, args.step_duration, args.start, args.warmup)
    plan.rates()  # bad numbers fail before any load

    def progress(line: str) -> None:
        # one line rewritten in place while a step runs; its outcome stays
        end = "" if line.endswith("...") else "\n"
        print(f"\r\x1b[2K{line}", end=end, file=sys.stderr, flush=True)

    result = find_capacity(
        plan,
        wrk_driver(args.url, args.workload, args.connections, args.threads),
        prometheus_burn(args.prometheus.rstrip("/"), slos[args.slo], args.settle),
        metrics_cpu(_pairs(args.service) if args.service else _default_services()),
        args.slo,
        progress,
    )
    print(to_terminal(result), end="")
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        for suffix, write in (("md", to_markdown), ("html", to_html), ("json", to_json),
                              ("svg", to_svg)):  # fmt: skip
            (out / f"capacity-{args.slo}.{suffix}").write_text(write(result), encoding="utf-8")
        print(f"results written to {out}/", file=sys.stderr)
    return 0 if result.capacity is not None else 1


def _default_services() -> dict[str, str]:
    from slolab.contract import PORTS, SERVICES

    return {
        n: os.environ.get(f"{n.upper()}_URL") or f"http://127.0.0.1:{PORTS[n]}" for n in SERVICES
    }


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``capacity`` to the ``slolab scenario`` subcommands."""
    from slolab.contract import PORTS

    tasks = os.environ.get("TASKS_URL") or f"http://127.0.0.1:{PORTS['tasks']}"
    prom = os.environ.get("PROMETHEUS_URL") or f"http://127.0.0.1:{PORTS['prometheus']}"
    q = sub.add_parser("capacity", help="the highest offered rate that holds an SLO (load steps)")
    q.add_argument("--slo", required=True, help="the SLO that must hold (a name in --slos)")
    q.add_argument("--slos", help="the SLO file (default: the checkout's slos.yaml)")
    q.add_argument("--url", default=f"{tasks}/api/tasks",
                   help="what to load (default: $TASKS_URL/api/tasks)")  # fmt: skip
    q.add_argument("--workload", choices=WORKLOADS, default="get",
                   help="get: GET --url; create_task, predict: POSTs (slolab/lua/)")  # fmt: skip
    q.add_argument("--prometheus", default=prom, help="Prometheus (default: $PROMETHEUS_URL)")
    q.add_argument("--service", action="append", metavar="NAME=URL",
                   help="a service whose CPU to report (repeatable; default: lab's)")  # fmt: skip
    q.add_argument("--start", type=float, help="first rate, req/s (default: one step)")
    q.add_argument("--step", type=float, default=100.0, help="rate added per step, req/s")
    q.add_argument("--step-duration", type=float, default=60.0, metavar="SECONDS",
                   help="seconds per step; the SLO is read over each step")  # fmt: skip
    q.add_argument("--max-rate", type=float, default=2000.0, help="stop there, req/s")
    q.add_argument("--warmup", type=float, default=10.0, metavar="SECONDS",
                   help="load at the first rate before the steps, not scored")  # fmt: skip
    q.add_argument("--settle", type=float, default=10.0, metavar="SECONDS",
                   help="wait after a step for its last scrape before reading the SLO")  # fmt: skip
    q.add_argument("--connections", type=int, default=64, help="wrk connections")
    q.add_argument("--threads", type=int, default=2, help="wrk threads")
    q.add_argument("--output", metavar="DIR", help="also write .md, .html, .svg and .json there")
    q.set_defaults(func=_cmd)
