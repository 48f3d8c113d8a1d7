"""``slolab slo status|report|trends|gate|reviews|query``: parsing only.

The work happens in slolab.slo.status, report, trends, gate, reviews and
query; errors become ``slolab.cli.CLIError`` (one line, exit code 2).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from slolab.slo.files import FILE_HELP

__all__ = ["register_toolkit"]

ENV_POLICIES = "SLOLAB_SLO_POLICIES"


def _error(message: str) -> Exception:
    from slolab.cli import CLIError

    return CLIError(message)


def _slos(args: argparse.Namespace) -> list:
    from slolab.slo.model import load
    from slolab.slo.spec import SpecError

    try:
        return load(args.file)
    except SpecError as exc:
        raise _error(str(exc)) from None


def _selected(args: argparse.Namespace) -> list:
    from slolab.slo.gate import select

    try:
        return select(_slos(args), args.service or (), args.slo or ())
    except ValueError as exc:
        raise _error(str(exc)) from None


def _policies(args: argparse.Namespace) -> Any:
    from slolab.slo.policy import PolicyError, load_policies

    path = args.policies or os.environ.get(ENV_POLICIES)
    if not path:
        return None  # each SLO's own: the `policy:` of slos.yaml, else the built-in one
    try:
        return load_policies(path)
    except PolicyError as exc:
        raise _error(str(exc)) from None


@contextmanager
def _prometheus(args: argparse.Namespace) -> Iterator[Any]:
    """A client for --prometheus/$PROMETHEUS_URL; its errors become one-line CLI errors."""
    from slolab.slo.query import Prometheus, PrometheusError

    try:
        with Prometheus(args.prometheus, timeout=args.timeout) as prom:
            yield prom
    except PrometheusError as exc:
        raise _error(str(exc)) from None


def _console() -> Any:
    from rich.console import Console

    # Piped output (CI logs, tests) gets a wide table instead of rich's 80 columns.
    return Console(width=None if sys.stdout.isatty() else 200)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-01-31") from None


def _instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time like 2026-01-31T12:00:00+00:00"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _duration(text: str) -> str:
    from slolab.slo.durations import parse_duration

    try:
        parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


# --- commands --------------------------------------------------------------------


def _cmd_status(args: argparse.Namespace) -> int:
    from slolab.slo.status import collect, view, watch

    slos, policies, console = _selected(args), _policies(args), _console()
    with _prometheus(args) as prom:
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

    slos, policies = _selected(args), _policies(args)
    with _prometheus(args) as prom:
        result = evaluate(collect(prom, slos, policies))
    print(result.summary())
    return result.exit_code


def _cmd_reviews(args: argparse.Namespace) -> int:
    from slolab.slo.reviews import complete, due, render, schedule
    from slolab.slo.spec import SpecError

    if args.action != "list":
        if not args.slo_name:
            raise _error(f"reviews {args.action}: name the SLO")
        try:
            when = _date(args.date) if args.date else date.today()
        except argparse.ArgumentTypeError as exc:
            raise _error(str(exc)) from None
        if args.action == "schedule" and not args.date:
            raise _error("reviews schedule: give the date, e.g. 2026-12-01")
        reviewers = args.reviewers.split(",") if args.reviewers is not None else None
        try:
            if args.action == "schedule":
                schedule(Path(args.file), args.slo_name, when, reviewers)
            else:
                complete(Path(args.file), args.slo_name, when)
        except SpecError as exc:
            raise _error(str(exc)) from None
        print(f"{args.file}: {args.slo_name}: review {args.action} {when.isoformat()}")
        return 0
    as_of = args.as_of or date.today()
    rows = due(_slos(args), as_of, within_days=args.within)
    print(render(rows, as_of))
    return 1 if args.check and any(r.is_due for r in rows) else 0


def _cmd_query(args: argparse.Namespace) -> int:
    from slolab.slo import query as q

    slos = _selected(args)
    if args.kind == "latency":
        slos = [s for s in slos if s.sli.kind == "latency"]
    elif args.kind == "availability":
        slos = [s for s in slos if s.sli.kind in ("ratio", "probe")]
    if not slos:
        raise _error(f"no {args.kind} SLOs match the filters")
    found = 0
    with _prometheus(args) as prom:
        for slo in slos:
            if args.kind == "latency":
                try:
                    value = q.latency_quantile(prom, slo, args.quantile, args.window, args.at)
                except ValueError as exc:
                    raise _error(str(exc)) from None
                shown = "no data" if value is None else f"{value * 1000:.1f} ms"
                label = f"p{args.quantile * 100:g}"
            else:
                value = q.sli(prom, slo, args.window, args.at)
                shown = "no data" if value is None else f"{value * 100:.4f}%"
                label = "SLI"
            found += value is not None
            print(f"{slo.name}: {label} over {args.window}: {shown}")
    return 0 if found else 1


def _cmd_report(args: argparse.Namespace) -> int:
    from slolab.slo.report import build, calendar_window, to_html, to_markdown, with_incidents

    slos = _selected(args)
    start, end = None, args.end
    if args.calendar:
        if args.period:
            raise _error("give --period or --calendar, not both")
        start, end = calendar_window(args.calendar, args.end or datetime.now(UTC))
    with _prometheus(args) as prom:
        report = build(prom, slos, period=args.period, end=end, start=start)
        if args.incidents:
            report = with_incidents(prom, report)
    names = ", ".join(s.slo.name for s in report.slos)
    if args.send:
        return _send(report, args)
    if args.format == "pdf":
        from slolab.slo.delivery import write_pdf

        if not args.output:
            raise _error("--format pdf needs --output FILE")
        print(f"wrote {write_pdf(report, Path(args.output))}: {names}")
        return 0
    _write(to_html(report) if args.format == "html" else to_markdown(report), args.output, names)
    return 0


def _send(report: Any, args: argparse.Namespace) -> int:
    """Deliver to every channel configured (cron: one line per channel, exit 1 on failure)."""
    from slolab.slo import delivery as d

    channels: list[tuple[str, Callable[[], None]]] = []
    if args.to or os.environ.get("SLOLAB_SMTP_HOST"):
        try:
            settings = d.EmailSettings.from_env(recipients=args.to.split(",") if args.to else None)
        except d.DeliveryError as exc:
            raise _error(str(exc)) from None
        channels.append((f"e-mail to {', '.join(settings.recipients)}",
                         lambda: d.send_email(report, settings)))  # fmt: skip
    slack = os.environ.get(d.ENV_SLACK) or os.environ.get(f"{d.ENV_SLACK}_FILE")
    if args.slack or slack:
        try:
            url = d.slack_webhook_url()
        except d.DeliveryError as exc:
            raise _error(str(exc)) from None
        channels.append(("Slack", lambda: d.send_slack(report, url)))
    if not channels:
        raise _error("--send: no channel configured (set SLOLAB_SMTP_HOST and SLOLAB_REPORT_TO, "
                     f"or {d.ENV_SLACK})")  # fmt: skip
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
    from slolab.slo.incidents import find, to_markdown, write_postmortems

    slos = _selected(args)
    end = (args.end or datetime.now(UTC)).replace(microsecond=0)
    start = end - parse_duration(args.since)
    with _prometheus(args) as prom:
        found = find(prom, slos, start, end)
    sys.stdout.write(to_markdown(found, start, end))
    if args.postmortems:
        for path in write_postmortems(found, Path(args.postmortems)):
            print(f"wrote {path}")
    return 0


def _cmd_trends(args: argparse.Namespace) -> int:
    from slolab.slo.trends import analyse, render

    slos = _selected(args)
    with _prometheus(args) as prom:
        trends = [analyse(prom, slo, args.window, args.windows, args.end) for slo in slos]
    print(render(trends))
    return 0


def _ratios(text: str) -> list[float]:
    try:
        values = [float(v.strip().removesuffix("%")) / (100 if "%" in v else 1)
                  for v in text.split(",") if v.strip()]  # fmt: skip
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of error ratios like 1,0.1,0.02 or 100%,10%"
        ) from None
    if not values or any(not 0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: each error ratio must be in (0, 1]")
    return values


def _cmd_diff(args: argparse.Namespace) -> int:
    from slolab.slo import diff as d
    from slolab.slo.query import ENV_URL
    from slolab.slo.spec import SpecError

    try:
        result = d.compare(d.read_version(args.old), d.read_version(args.new))
    except SpecError as exc:
        raise _error(str(exc)) from None
    if args.prometheus or os.environ.get(ENV_URL):
        with _prometheus(args) as prom:
            result = d.budgets(prom, result, args.end)
    _write(d.to_markdown(result), args.output, f"{len(result.rules)} rule changes")
    return 1 if args.exit_code and not result.empty else 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from slolab.slo.durations import parse_duration
    from slolab.slo.simulate import SimulationError, simulate, to_html, to_markdown

    try:
        sims = [
            simulate(s, args.error_ratios, parse_duration(args.duration)) for s in _selected(args)
        ]
    except SimulationError as exc:
        raise _error(str(exc)) from None
    text = to_html(sims) if args.format == "html" else "\n".join(to_markdown(s) for s in sims)
    _write(text, args.output, ", ".join(s.slo.name for s in sims))
    return 0


def _write(text: str, output: str | None, what: str) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {output}: {what}")
    else:
        sys.stdout.write(text)


# --- registration ------------------------------------------------------------------


def register_toolkit(subparsers: argparse._SubParsersAction) -> None:
    """Add the toolkit's subcommands to the ``slolab slo`` subparsers."""

    def add(name: str, help_: str, func: Callable[[argparse.Namespace], int], *,
            prometheus: bool = True, filters: bool = True) -> argparse.ArgumentParser:  # fmt: skip
        p = subparsers.add_parser(name, help=help_)
        p.add_argument("--file", "-f", help=FILE_HELP)
        if prometheus:
            p.add_argument("--prometheus", metavar="URL",
                           help="Prometheus base URL (default: $PROMETHEUS_URL or "
                           "http://127.0.0.1:9090)")  # fmt: skip
            p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                           help="per query (default: %(default)s)")  # fmt: skip
        if filters:
            p.add_argument("--service", action="append", metavar="NAME",
                           help="only this service's SLOs (repeatable)")  # fmt: skip
            p.add_argument("--slo", action="append", metavar="NAME",
                           help="only this SLO (repeatable)")  # fmt: skip
        p.set_defaults(func=func)
        return p

    def policies(p: argparse.ArgumentParser) -> None:
        p.add_argument("--policies", metavar="FILE",
                       help=f"error-budget policy file (default: ${ENV_POLICIES}, "
                       "else the policy in the SLO file, else the built-in one)")  # fmt: skip

    p = add("status", "live table: SLI, target, budget left, burn rates, alerts", _cmd_status)
    p.add_argument("--watch", type=float, metavar="SECONDS",
                   help="refresh every SECONDS until Ctrl-C")  # fmt: skip
    policies(p)

    p = add("gate", "deployment gate: exit 1 with the reason while a policy freezes deploys",
            _cmd_gate)  # fmt: skip
    policies(p)

    p = add("report", "compliance report over the period (markdown or self-contained HTML)",
            _cmd_report)  # fmt: skip
    p.add_argument("--format", choices=["md", "html", "pdf"], default="md")
    p.add_argument("--output", "-o", metavar="FILE", help="write here (default: stdout)")
    p.add_argument("--send", action="store_true",
                   help="deliver instead of printing: e-mail (SLOLAB_SMTP_*) and/or Slack "
                   "(SLOLAB_SLACK_WEBHOOK_URL), whichever are configured")  # fmt: skip
    p.add_argument("--to", metavar="A,B", help="--send: e-mail these (default: $SLOLAB_REPORT_TO)")
    p.add_argument("--slack", action="store_true", help="--send: require Slack delivery")
    p.add_argument("--period", type=_duration,
                   help="report over this long, e.g. 7d (default: each SLO's period)")  # fmt: skip
    p.add_argument("--end", type=_instant, help="end of the report (default: now)")
    p.add_argument("--calendar", choices=["month", "quarter"],
                   help="the calendar month/quarter (UTC) that --end falls in, up to --end; "
                   "at a boundary the one just ended")  # fmt: skip
    p.add_argument("--incidents", action="store_true",
                   help="add the incidents (page/ticket episodes) of the window")  # fmt: skip

    p = add("trends", "SLI and budget trend over the last N windows", _cmd_trends)
    p.add_argument("--window", type=_duration, default="1d",
                   help="length of each window (default: %(default)s)")  # fmt: skip
    p.add_argument("--windows", type=int, default=7, help="how many (default: %(default)s)")
    p.add_argument("--end", type=_instant, help="end of the last window (default: now)")

    p = add("reviews", "SLOs whose periodic review is due", _cmd_reviews,
            prometheus=False, filters=False)  # fmt: skip
    p.add_argument("action", nargs="?", choices=["list", "schedule", "done"], default="list",
                   help="list (default); schedule SLO DATE; done SLO [DATE]")  # fmt: skip
    p.add_argument("slo_name", nargs="?", metavar="SLO")
    p.add_argument("date", nargs="?", metavar="DATE", help="YYYY-MM-DD (done: default today)")
    p.add_argument("--reviewers", metavar="A,B", help="schedule: who reviews with the owner")
    p.add_argument("--as-of", type=_date, help="the day to check (default: today)")
    p.add_argument("--within", type=int, default=0, metavar="DAYS",
                   help="also list reviews due within DAYS")  # fmt: skip
    p.add_argument("--check", action="store_true", help="exit 1 when a review is due")

    p = add("query", "an SLI or a latency percentile over any window, from raw series",
            _cmd_query)  # fmt: skip
    p.add_argument("kind", choices=["sli", "availability", "latency"])
    p.add_argument("--window", type=_duration, default="1h", help="(default: %(default)s)")
    p.add_argument("--quantile", type=float, default=0.95, help="latency (default: %(default)s)")
    p.add_argument("--at", type=_instant, help="evaluation time (default: now)")

    p = add("diff", "what a change to the SLO file does (markdown for a pull request)",
            _cmd_diff, filters=False)  # fmt: skip
    p.add_argument("old", help="the old version: a path, or REV:path (e.g. main:slos.yaml)")
    p.add_argument("new", help="the new version (e.g. slos.yaml)")
    p.add_argument("--end", type=_instant, help="end of the budget window (default: now)")
    p.add_argument("--output", "-o", metavar="FILE", help="write here (default: stdout)")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when anything changed")

    p = add("incidents", "page/ticket episodes from the ALERTS history, with postmortem "
            "skeletons", _cmd_incidents)  # fmt: skip
    p.add_argument("--since", type=_duration, default="7d",
                   help="how far back (default: %(default)s)")  # fmt: skip
    p.add_argument("--end", type=_instant, help="end of the window (default: now)")
    p.add_argument("--postmortems", metavar="DIR",
                   help="write a markdown ticket/postmortem skeleton per incident here "
                   "(existing files are kept)")  # fmt: skip

    p = add("simulate", "when an outage pages, tickets and resolves, and its budget cost "
            "(the generated rules run by promtool)", _cmd_simulate, prometheus=False)  # fmt: skip
    p.add_argument("--error-ratio", dest="error_ratios", type=_ratios, metavar="LIST",
                   help="error ratios to try, e.g. 1,0.1,0.02 (default: 100%% down to 2x "
                   "the budget)")  # fmt: skip
    p.add_argument("--duration", type=_duration, default="1h",
                   help="how long the outage lasts (default: %(default)s)")  # fmt: skip
    p.add_argument("--format", choices=["md", "html"], default="md")
    p.add_argument("--output", "-o", metavar="FILE", help="write here (default: stdout)")
