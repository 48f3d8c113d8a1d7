"""``slolab lab``: run the whole lab natively until Ctrl-C."""

from __future__ import annotations

import argparse
import shlex
import shutil
import signal
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from slolab.errors import CLIError
from slolab.lab.config import SCENARIOS, LabConfig

if TYPE_CHECKING:
    from rich.console import Console

    from slolab.lab.runner import Lab

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lab",
        help="run the lab natively: services, Prometheus, Alertmanager, probe, load, live SLOs",
        description=(
            "Start both services, Prometheus, Alertmanager, the blackbox probe and a Locust "
            "scenario as local processes, and show a live SLO table until Ctrl-C. State lives "
            "in LAB_DIR (default .lab/) and is kept between runs unless RESET=1."
        ),
    )
    p.add_argument("--dir", help="lab folder (default $LAB_DIR or .lab/)")
    p.add_argument(
        "--scenario",
        help=f"Locust load shape ({', '.join(SCENARIOS)}) or a game day of scenarios/ "
        "(default $SCENARIO or steady)",
    )
    p.add_argument("--no-load", action="store_true", help="start no load generator (LOAD=0)")
    p.add_argument(
        "--headless", action="store_true", help="run Locust without its web UI (LAB_HEADLESS=1)"
    )
    p.add_argument(
        "--reset", action="store_true", help="delete the lab folder's state first (RESET=1)"
    )
    p.add_argument(
        "--no-install",
        action="store_true",
        help="never run apt-get; say what to install instead",
    )
    p.add_argument("--refresh", type=float, default=5.0, help="seconds between table updates")
    p.set_defaults(func=run)

    p = sub.add_parser(
        "history",
        help="write a generated past (traffic, incidents, recorded SLO series) as TSDB blocks",
        description=(
            "Generate HISTORY (default 30d) of the demo's series ending now and write it, "
            "with the recording rules evaluated over it, as Prometheus TSDB blocks into "
            "--out (what `make lab HISTORY=30d` does; compose copies them into its volume)."
        ),
    )
    p.add_argument("--length", default=None, help="how long (default $HISTORY or 30d)")
    p.add_argument("--out", required=True, help="folder for the blocks (replaced)")
    p.add_argument("--rules", action="append", metavar="GLOB",
                   help="rule files (default: prometheus/rules/*.yml here)")  # fmt: skip
    p.set_defaults(func=run_history)


def run_history(args: argparse.Namespace) -> int:
    """``slolab history``: the HISTORY backfill without starting a lab."""
    import glob
    import os

    from slolab.lab import binaries, history
    from slolab.lab.backfill import BackfillError, Tools
    from slolab.lab.config import history_length, repo_root

    try:
        length = history_length(args.length or os.environ.get("HISTORY") or "30d")
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    tools = {k: binaries.find(k) for k in ("promtool", "prometheus")}
    if not all(tools.values()):
        raise CLIError("needs promtool and prometheus on PATH (Debian package prometheus)")
    patterns = args.rules or [str(repo_root() / "prometheus" / "rules" / "*.yml")]
    rule_files = [Path(p) for pattern in patterns for p in sorted(glob.glob(pattern))]
    out = Path(args.out).resolve()
    try:
        history.build(length or timedelta(days=30), out, rule_files, repo_root() / "slos.yaml",
                      Tools(promtool=tools["promtool"] or "", prometheus=tools["prometheus"] or "",
                            work=out.parent / f".{out.name}-work"))  # fmt: skip
    except BackfillError as exc:
        raise CLIError(str(exc)) from None
    shutil.rmtree(out.parent / f".{out.name}-work", ignore_errors=True)
    print(f"history: blocks in {out}")
    return 0


def _config(args: argparse.Namespace) -> LabConfig:
    cfg = LabConfig.from_env()
    changes: dict[str, object] = {}
    if args.dir:
        changes["lab_dir"] = Path(args.dir).expanduser().resolve()
    if args.scenario:
        changes["scenario"] = args.scenario
    if args.no_load:
        changes["load"] = False
    if args.headless:
        changes["locust_ui"] = False
    if args.reset:
        changes["reset"] = True
    return replace(cfg, **changes) if changes else cfg  # type: ignore[arg-type]


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """Start the lab, show the live table, stop everything on Ctrl-C, SIGTERM or an error."""
    from rich.console import Console

    from slolab.lab import binaries
    from slolab.lab.live import watch
    from slolab.lab.runner import Lab, LabError

    console = Console()
    err = Console(stderr=True)
    try:
        cfg = _config(args)
        binaries.ensure(install=not args.no_install, echo=console.print)
    except (ValueError, binaries.InstallError) as exc:
        err.print(f"[bold red]slolab lab:[/] {exc}", highlight=False)
        return 2
    generated = not cfg.admin_token
    gameday: _GameDayThread | None = None
    lab = Lab(cfg, echo=lambda s: console.print(s, highlight=False))
    # SIGTERM/SIGHUP stop the lab the same way Ctrl-C does.
    previous = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        console.print(f"lab: state in {cfg.lab_dir}" + (" (reset)" if cfg.reset else ""))
        lab.start()
        _print_banner(console, lab, generated)
        console.print("Ctrl-C stops every process of the lab.\n", highlight=False)
        if cfg.gameday is not None:
            gameday = _start_gameday(lab, console)
        watch(
            lab.url("prometheus"),
            check=lab.check,
            console=console,
            refresh=args.refresh,
        )
    except LabError as exc:
        err.print(f"[bold red]slolab lab:[/] {exc}", highlight=False)
        return 1
    except KeyboardInterrupt:
        console.print("lab: stopping ...")
        return 0
    finally:
        if gameday is not None:
            gameday.finish()  # clears its faults before the services stop
        lab.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
        console.print(f"lab: stopped; logs in {cfg.lab_dir / 'logs'}")
    return 0


class _GameDayThread:
    """A game day (SCENARIO=NAME) run beside the live table; its scorecard printed at the end."""

    def __init__(self, lab: Lab, console: Console) -> None:
        import threading

        import slolab.slo as slo_pkg
        from slolab.scenario.run import Endpoints, GameDay, RuleAdjustments, StateFile
        from slolab.scenario.spec import load_scenario

        cfg = lab.config
        assert cfg.gameday is not None
        slos = slo_pkg.load(cfg.repo / "slos.yaml")
        self.scenario = load_scenario(cfg.gameday, slos)
        endpoints = Endpoints.from_env(
            {}, prometheus=lab.url("prometheus"), alertmanager=lab.url("alertmanager"),
            tasks=lab.url("tasks"), predictor=lab.url("predictor"),
        )  # fmt: skip
        self.console, self.stop = console, threading.Event()
        self.day = GameDay(self.scenario, slos, endpoints, lab.admin_token, load=cfg.load,
                           log_dir=lab.dir / "logs", stop=self.stop,
                           echo=lambda s: console.print(f"game day: {s}", highlight=False),
                           on_update=StateFile(lab.gameday_state, self.scenario),
                           rules=RuleAdjustments(lab.rules_dir, lab.url("prometheus")))  # fmt: skip
        self.state = StateFile(lab.gameday_state, self.scenario)
        self.prometheus = lab.url("prometheus")
        self.thread = threading.Thread(target=self._run, name="gameday", daemon=True)

    def _settle(self, timeout: float = 120.0) -> None:
        """Wait until every rule group has evaluated after the probes saw the services up.

        A fresh lab's first probes fail while the services start, which pages the
        uptime SLOs seconds later; begun after that, the game day lists such a page
        as firing before it (not scored) instead of as a page nobody expected.
        """
        import time

        import httpx

        after = time.time() + 15  # a probe scrape (10 s) after the services were ready
        query = "min(prometheus_rule_group_last_evaluation_timestamp_seconds)"
        deadline = time.monotonic() + timeout
        self.console.print("game day: waiting for the lab's first rule evaluations ...",
                           highlight=False)  # fmt: skip
        while time.monotonic() < deadline and not self.stop.is_set():
            try:
                result = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": query},
                                   timeout=5).json()["data"]["result"]  # fmt: skip
                if result and float(result[0]["value"][1]) >= after:
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            self.stop.wait(2)

    def _run(self) -> None:
        from slolab.scenario.render import CardView, to_terminal
        from slolab.scenario.run import RunError

        self._settle()
        if self.stop.is_set():
            return
        try:
            result = self.day.run()
        except RunError as exc:
            self.console.print(f"game day {self.scenario.name} stopped: {exc}", highlight=False)
            return
        elapsed = (result.outcome.elapsed or self.scenario.duration).total_seconds()
        self.state.write(result.scorecard, elapsed, result.observed, False, result.notes)
        firings = list(result.outcome.firings)
        view = CardView(self.scenario, result.scorecard, "observed", firings,
                        result.observed.burn, result.notes)  # fmt: skip
        self.console.print(to_terminal(view), highlight=False)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def _start_gameday(lab: Lab, console: Console) -> _GameDayThread:
    day = _GameDayThread(lab, console)
    console.print(f"game day {day.scenario.name}: {day.scenario.duration} (dashboard: "
                  f"{lab.url('dashboard')}/)", highlight=False)  # fmt: skip
    day.thread.start()
    return day


def _print_banner(console: Console, lab: Lab, generated: bool) -> None:
    cfg = lab.config
    rows = [
        ("tasks", lab.url("tasks") + "/api/tasks"),
        ("predictor", lab.url("predictor") + "/docs"),
        ("Prometheus", lab.url("prometheus") + "/alerts"),
        ("Alertmanager", lab.url("alertmanager")),
    ]
    if cfg.dashboard:
        rows.insert(0, ("dashboard", lab.url("dashboard") + "/"))
    if cfg.load and cfg.locust_ui:
        rows.append(("Locust", lab.url("locust")))
    if lab.traces == "store":
        rows.append(
            (
                "traces",
                (lab.url("dashboard") + "/traces") if cfg.dashboard else str(lab.trace_store_path),
            )
        )
    elif lab.traces == "jaeger":
        rows.append(("Jaeger", lab.url("jaeger")))
    elif lab.traces == "external":
        rows.append(("traces to", lab.otlp_endpoint or ""))
    for name, url in rows:
        console.print(f"  {name:13} {url}", highlight=False)
    load = f"Locust scenario {cfg.scenario}" if cfg.load else "no load (LOAD=0)"
    if cfg.gameday is not None:
        load = f"game day {cfg.scenario} (docs/scenarios.md)"
    console.print(f"  load          {load}; logs in {cfg.lab_dir / 'logs'}", highlight=False)
    if getattr(lab, "dropped_jobs", None):
        console.print(f"  not run natively: {', '.join(lab.dropped_jobs)}", highlight=False)
    where = "generated for this session" if generated else "from SLOLAB_ADMIN_TOKEN"
    console.print(f"\nAdmin token {where}; in another terminal:", highlight=False)
    console.print(f"  export SLOLAB_ADMIN_TOKEN={lab.admin_token}", highlight=False, soft_wrap=True)
    console.print(
        f"  export TASKS_URL={lab.url('tasks')} PREDICTOR_URL={lab.url('predictor')}",
        highlight=False,
        soft_wrap=True,
    )
    cmd = slolab_command()
    console.print(f"  {cmd} fault set tasks error_rate=1 --expires-in 300", highlight=False,
                  soft_wrap=True)  # fmt: skip
    console.print(f"  {cmd} slo status --prometheus {lab.url('prometheus')}\n", highlight=False,
                  soft_wrap=True)  # fmt: skip


def slolab_command() -> str:
    """How to call this slolab from a fresh shell (the venv is not on its PATH)."""
    script = Path(sys.executable).parent / "slolab"
    if script.is_file():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m slolab"
