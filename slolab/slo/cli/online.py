"""``slolab slo`` commands that query Prometheus: status, gate, report, trends, query, incidents,
backtest, cost."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slolab.slo.cli import common

__all__ = ["register"]


def _cmd_status(args: argparse.Namespace) -> int:
    from slolab.slo.cli.status_table import view, watch
    from slolab.slo.status import collect

    slos, policies, console = common.selected(args), common.policies(args), common.console()
    with common.prometheus(args) as prom:
        if args.watch:
            try:
                watch(lambda: collect(prom, slos, policies), args.watch, console)
            except KeyboardInterrupt:
                return 0
            return 0
        console.print(view(collect(prom, slos, policies), width=console.width))
    return 0


def _cmd_gate(args: argparse.Namespace) -> int:
    from slolab.slo.gate import evaluate
    from slolab.slo.status import collect

    slos, policies = common.selected(args), common.policies(args)
    with common.prometheus(args) as prom:
        result = evaluate(collect(prom, slos, policies))
    print(result.summary())
    return result.exit_code


def _cmd_query(args: argparse.Namespace) -> int:
    from slolab.slo import query as q
    from slolab.slo.views import percent

    slos = common.selected(args)
    if args.kind == "latency":
        slos = [s for s in slos if s.sli.kind == "latency"]
    elif args.kind == "availability":
        slos = [s for s in slos if s.sli.kind in ("ratio", "probe")]
    if not slos:
        raise common.error(f"no {args.kind} SLOs match the filters")
    found = 0
    with common.prometheus(args) as prom:
        for slo in slos:
            if args.kind == "latency":
                try:
                    value = q.latency_quantile(prom, slo, args.quantile, args.window, args.at)
                except ValueError as exc:
                    raise common.error(str(exc)) from None
                shown = "no data" if value is None else f"{value * 1000:.1f} ms"
                label = f"p{args.quantile * 100:g}"
            else:
                value = q.sli(prom, slo, args.window, args.at)
                shown = percent(value, 4, missing="no data")
                label = "SLI"
            found += value is not None
            print(f"{slo.name}: {label} over {args.window}: {shown}")
    return 0 if found else 1


def _cmd_report(args: argparse.Namespace) -> int:
    from slolab.slo.report.analysis import build, calendar_window, with_incidents
    from slolab.slo.report.html import to_html
    from slolab.slo.report.markdown import to_markdown

    slos = common.selected(args)
    start, end = None, args.end
    if args.calendar:
        if args.period:
            raise common.error("give --period or --calendar, not both")
        start, end = calendar_window(args.calendar, args.end or datetime.now(UTC))
    with common.prometheus(args) as prom:
        report = build(prom, slos, period=args.period, end=end, start=start)
        if args.incidents:
            report = with_incidents(prom, report)
    names = ", ".join(s.slo.name for s in report.slos)
    if args.send:
        return _send(report, args)
    if args.format == "pdf":
        from slolab.slo.delivery import write_pdf

        if not args.output:
            raise common.error("--format pdf needs --output FILE")
        print(f"wrote {write_pdf(report, Path(args.output))}: {names}")
        return 0
    common.write(
        to_html(report) if args.format == "html" else to_markdown(report), args.output, names
    )
    return 0


def _send(report: Any, args: argparse.Namespace) -> int:
    """Deliver to every channel configured (cron: one line per channel, exit 1 on failure)."""
    from slolab.slo import delivery as d

    channels: list[tuple[str, Callable[[], None]]] = []
    if args.to or os.environ.get("SLOLAB_SMTP_HOST"):
        try:
            settings = d.EmailSettings.from_env(recipients=args.to.split(",") if args.to else None)
        except d.DeliveryError as exc:
            raise common.error(str(exc)) from None
        channels.append((f"e-mail to {', '.join(settings.recipients)}",
                         lambda: d.send_email(report, settings)))  # fmt: skip
    slack = os.environ.get(d.ENV_SLACK) or os.environ.get(f"{d.ENV_SLACK}_FILE")
    if args.slack or slack:
        try:
            url = d.slack_webhook_url()
        except d.DeliveryError as exc:
            raise common.error(str(exc)) from None
        channels.append(("Slack", lambda: d.send_slack(report, url)))
    if not channels:
        raise common.error(
            "--send: no channel configured (set SLOLAB_SMTP_HOST and SLOLAB_REPORT_TO, "
            f"or {d.ENV_SLACK})"
        )
    failed = 0
    for name, send in channels:
        try:
            send()
            print(f"sent the report by {name}")
        except d.DeliveryError as exc:
            failed += 1
            print(f"slolab: error: {exc}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_incidents(args: argparse.Namespace) -> int:
    from slolab.slo.durations import parse_duration
    from slolab.slo.incidents import find
    from slolab.slo.report.incidents import to_markdown, write_postmortems

    slos = common.selected(args)
    end = (args.end or datetime.now(UTC)).replace(microsecond=0)
    start = end - parse_duration(args.since)
    with common.prometheus(args) as prom:
        found = find(prom, slos, start, end)
    sys.stdout.write(to_markdown(found, start, end))
    if args.postmortems:
        for path in write_postmortems(found, Path(args.postmortems)):
            print(f"wrote {path}")
    return 0


def _progress_bar() -> Any:
    """A progress callback drawing a bar on the terminal (stderr), or None when piped."""
    if not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                   "{task.total}"), TimeElapsedColumn(), console=Console(stderr=True),
                   transient=True)  # fmt: skip
    task = bar.add_task("backtest", total=None)

    def update(done: int, total: int, what: str) -> None:
        bar.update(task, completed=done, total=total, description=f"replaying {what}")

    return bar, update


def _cmd_backtest(args: argparse.Namespace) -> int:
    import tempfile

    from slolab.slo import backtest as bt
    from slolab.slo.diff import read_version
    from slolab.slo.durations import parse_duration
    from slolab.slo.query import prometheus_url
    from slolab.slo.selection import select
    from slolab.slo.spec import SpecError

    slos = common.selected(args)
    other = None
    if args.compare:
        try:
            version = read_version(args.compare)
            other = select(version.slos, args.service or (), args.slo or ())
        except (SpecError, ValueError) as exc:
            raise common.error(f"--compare {args.compare}: {exc}") from None
    end = (args.end or datetime.now(UTC)).replace(microsecond=0).timestamp()
    start = end - parse_duration(args.since).total_seconds()
    url = prometheus_url(args.prometheus)
    bar, update = _progress_bar()
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="slolab-backtest-") as work:
            if bar is not None:
                bar.start()
            try:
                for label, chosen in ((args.file or "slos.yaml", slos), (args.compare, other)):
                    if chosen is None:
                        continue
                    runs.append(bt.run(url, chosen, start, end, Path(work) / str(len(runs)),
                                       label=label, missed_share=args.missed_share,
                                       noise_share=args.noise_share, progress=update,
                                       timeout=args.timeout))  # fmt: skip
            finally:
                if bar is not None:
                    bar.stop()
    except bt.BacktestError as exc:
        raise common.error(str(exc)) from None
    render = {"md": bt.to_markdown, "json": bt.to_json, "html": bt.to_html}[args.format]
    text = render(runs[0], runs[1] if len(runs) > 1 else None)
    episodes = sum(len(r.episodes) for r in runs[0].slos)
    common.write(text, args.output, f"{episodes} episodes")
    return 0


def _cmd_cost(args: argparse.Namespace) -> int:
    from slolab.slo import cost

    slos = common.selected(args)
    at = (args.at or datetime.now(UTC)).timestamp()
    with common.prometheus(args) as prom:
        found = cost.measure(prom, slos, at, rounds=args.rounds)
    text = cost.to_markdown(found, len(slos), args.slos, args.warn_share)
    common.write(text, args.output, f"{len(found)} groups")
    return 0


def _cmd_trends(args: argparse.Namespace) -> int:
    from slolab.slo.trends import analyse, render

    slos = common.selected(args)
    with common.prometheus(args) as prom:
        trends = [analyse(prom, slo, args.window, args.windows, args.end) for slo in slos]
    print(render(trends))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the subcommands that read Prometheus."""

    def add(name: str, help_: str, func: Any, *, prometheus: bool = True,
            filters: bool = True) -> argparse.ArgumentParser:  # fmt: skip
        return common.add_command(
            subparsers, name, help_, func, prometheus=prometheus, filters=filters
        )

    def with_policies(p: argparse.ArgumentParser) -> None:
        p.add_argument("--policies", metavar="FILE",
                       help=f"error-budget policy file (default: ${common.ENV_POLICIES}, "
                       "else the policy in the SLO file, else the built-in one)")  # fmt: skip

    p = add("status", "live table: SLI, target, budget left, burn rates, alerts", _cmd_status)
    p.add_argument("--watch", type=float, metavar="SECONDS",
                   help="refresh every SECONDS until Ctrl-C")  # fmt: skip
    with_policies(p)

    p = add("gate", "deployment gate: exit 1 with the reason while a policy freezes deploys",
            _cmd_gate)  # fmt: skip
    with_policies(p)

    p = add("report", "compliance report over the period (markdown or self-contained HTML)",
            _cmd_report)  # fmt: skip
    p.add_argument("--format", choices=["md", "html", "pdf"], default="md")
    p.add_argument("--output", "-o", metavar="FILE", help="write here (default: stdout)")
    p.add_argument("--send", action="store_true",
                   help="deliver instead of printing: e-mail (SLOLAB_SMTP_*) and/or Slack "
                   "(SLOLAB_SLACK_WEBHOOK_URL), whichever are configured")  # fmt: skip
    p.add_argument("--to", metavar="A,B", help="--send: e-mail these (default: $SLOLAB_REPORT_TO)")
    p.add_argument("--slack", action="store_true", help="--send: require Slack delivery")
    p.add_argument("--period", type=common.span,
                   help="report over this long, e.g. 7d (default: each SLO's period)")  # fmt: skip
    p.add_argument("--end", type=common.instant, help="end of the report (default: now)")
    p.add_argument("--calendar", choices=["month", "quarter"],
                   help="the calendar month/quarter (UTC) that --end falls in, up to --end; "
                   "at a boundary the one just ended")  # fmt: skip
    p.add_argument("--incidents", action="store_true",
                   help="add the incidents (page/ticket episodes) of the window")  # fmt: skip

    p = add("trends", "SLI and budget trend over the last N windows", _cmd_trends)
    p.add_argument("--window", type=common.span, default="1d",
                   help="length of each window (default: %(default)s)")  # fmt: skip
    p.add_argument("--windows", type=int, default=7, help="how many (default: %(default)s)")
    p.add_argument("--end", type=common.instant, help="end of the last window (default: now)")

    p = add("query", "an SLI or a latency percentile over any window, from raw series",
            _cmd_query)  # fmt: skip
    p.add_argument("kind", choices=["sli", "availability", "latency"])
    p.add_argument("--window", type=common.span, default="1h", help="(default: %(default)s)")
    p.add_argument("--quantile", type=float, default=0.95, help="latency (default: %(default)s)")
    p.add_argument("--at", type=common.instant, help="evaluation time (default: now)")

    p = add("backtest", "replay the past through the generated alerts: every page and ticket "
            "they would have sent, missed stretches, noisy pages", _cmd_backtest)  # fmt: skip
    p.set_defaults(timeout=300.0)
    p.add_argument("--since", type=common.span, default="30d",
                   help="how far back (default: %(default)s)")  # fmt: skip
    p.add_argument("--end", type=common.instant, help="end of the window (default: now)")
    p.add_argument("--compare", metavar="OTHER",
                   help="another version of the spec, side by side: a path or REV:path "
                   "(e.g. main:slos.yaml)")  # fmt: skip
    p.add_argument("--format", choices=["md", "html", "json"], default="md")
    p.add_argument("--output", "-o", metavar="FILE", help="write here (default: stdout)")
    p.add_argument("--missed-share", type=float, default=0.05, metavar="SHARE",
                   help="report stretches that spent this share of the budget or more "
                   "without a page (default: %(default)s)")  # fmt: skip
    p.add_argument("--noise-share", type=float, default=0.005, metavar="SHARE",
                   help="report pages during which less than this share went "
                   "(default: %(default)s)")  # fmt: skip

    p = add("cost", "what the generated rules cost Prometheus per group (series, samples, time, "
            "cores, memory), beside the Pyrra and Sloth styles", _cmd_cost)  # fmt: skip
    p.add_argument("--slos", type=int, metavar="N",
                   help="also project the totals to N SLOs like these")  # fmt: skip
    p.add_argument("--rounds", type=int, default=3,
                   help="evaluations per rule, median taken (default: %(default)s)")  # fmt: skip
    p.add_argument("--warn-share", type=float, default=0.5, metavar="SHARE",
                   help="warn when a group takes more than this share of its interval "
                   "(default: %(default)s)")  # fmt: skip
    p.add_argument("--at", type=common.instant, help="evaluation time (default: now)")
    p.add_argument("--output", "-o", metavar="FILE", help="write here (default: stdout)")

    p = add("incidents", "page/ticket episodes from the ALERTS history, with postmortem "
            "skeletons", _cmd_incidents)  # fmt: skip
    p.add_argument("--since", type=common.span, default="7d",
                   help="how far back (default: %(default)s)")  # fmt: skip
    p.add_argument("--end", type=common.instant, help="end of the window (default: now)")
    p.add_argument("--postmortems", metavar="DIR",
                   help="write a markdown ticket/postmortem skeleton per incident here "
                   "(existing files are kept)")  # fmt: skip
