"""``slolab slo`` commands that read the SLO file only: validate, list, generate, reviews,
simulate, diff (diff also asks Prometheus for budgets when it is given one), convert.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slolab.slo.cli import common
from slolab.slo.generate.output import DEFAULT_SECRETS_DIR, DEFAULT_WEBHOOK_URL

if TYPE_CHECKING:
    from slolab.slo.generate import Registry

__all__ = ["register"]


def _cmd_validate(args: argparse.Namespace) -> int:
    from slolab.slo.generate.alerts import dropped_notes

    slos = common.slos(args)
    for slo in slos:
        for note in dropped_notes(slo):
            print(f"{args.file}: warning: {note}", file=sys.stderr)
        if getattr(slo.sli, "kind", None) == "latency" and slo.sli.buckets is None:
            print(f"{args.file}: warning: {slo.name}: threshold {slo.sli.threshold_seconds:g} s "
                  f"not checked against the buckets of {slo.sli.histogram} (list them in "
                  "sli.latency.buckets)", file=sys.stderr)  # fmt: skip
    print(f"{args.file}: {len(slos)} SLOs valid")
    if not args.against:
        return 0
    from slolab.slo import against

    if args.service:
        slos = [s for s in slos if s.service in set(args.service)]
        if not slos:
            raise common.error(f"--service: no SLOs for {', '.join(args.service)}")
    try:
        targets = [against.fetch(url) for url in args.against]
    except ValueError as exc:
        raise common.error(str(exc)) from None
    failed = 0
    for result in against.check(slos, targets):
        if result.ok:
            print(f"{result.slo.name}: ok ({'; '.join(result.notes)})")
            continue
        failed += 1
        for problem in result.problems:
            print(f"{result.slo.name}: {problem}")
    shown = ", ".join(t.url for t in targets)
    print(f"{len(slos) - failed} of {len(slos)} SLOs measurable on {shown}")
    return 1 if failed else 0


def _cmd_list(args: argparse.Namespace) -> int:
    from slolab.slo.listing import rows

    table = rows(common.slos(args))
    if args.format == "json":
        print(json.dumps(table, indent=2))
        return 0
    headers = list(table[0]) if table else []
    widths = [max(len(h), *(len(str(r[h])) for r in table)) for h in headers]
    print("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in table:
        print("  ".join(str(row[h]).ljust(w) for h, w in zip(headers, widths, strict=True)))
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from slolab.slo.generate import plan

    slos = common.slos(args)
    root = Path(args.root) if args.root else Path(args.file).resolve().parent
    overrides = {"source": Path(args.file).name}
    webhook = args.webhook_url or os.environ.get("SLOLAB_ALERT_WEBHOOK_URL")
    if webhook:
        overrides["webhook_url"] = webhook
    if args.secrets_dir:
        overrides["secrets_dir"] = args.secrets_dir
    registry = args.registry()
    options = registry.options(**overrides)
    try:
        result = plan(slos, root, options, only=args.only, registry=registry)
    except ValueError as exc:
        raise common.error(str(exc)) from None
    if args.check:
        stale = result.stale(root)
        if stale:
            raise common.error(
                "generated files are out of date (run `slolab slo generate`): " + ", ".join(stale)
            )
        print(f"{len(result.files)} generated files up to date")
        return 0
    for rel in result.write(root):
        print(f"{'removed' if rel in result.obsolete else 'wrote'} {rel}")
    return 0


def _cmd_reviews(args: argparse.Namespace) -> int:
    from slolab.slo.reviews import complete, due, render, schedule
    from slolab.slo.spec import SpecError

    if args.action != "list":
        if not args.slo_name:
            raise common.error(f"reviews {args.action}: name the SLO")
        try:
            when = common.iso_date(args.date) if args.date else date.today()
        except argparse.ArgumentTypeError as exc:
            raise common.error(str(exc)) from None
        if args.action == "schedule" and not args.date:
            raise common.error("reviews schedule: give the date, e.g. 2026-12-01")
        reviewers = args.reviewers.split(",") if args.reviewers is not None else None
        try:
            if args.action == "schedule":
                schedule(Path(args.file), args.slo_name, when, reviewers)
            else:
                complete(Path(args.file), args.slo_name, when)
        except SpecError as exc:
            raise common.error(str(exc)) from None
        print(f"{args.file}: {args.slo_name}: review {args.action} {when.isoformat()}")
        return 0
    as_of = args.as_of or date.today()
    rows = due(common.slos(args), as_of, within_days=args.within)
    print(render(rows, as_of))
    return 1 if args.check and any(r.is_due for r in rows) else 0


def _cmd_adjust(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from slolab.slo import adjustments
    from slolab.slo.spec import SpecError

    if args.action == "list":
        now = datetime.now(UTC)
        lines = adjustments.listing(common.slos(args), now, timedelta(days=args.days))
        print("\n".join(lines) if lines else f"{args.file}: no budget adjustments")
        return 0
    if not args.name:
        raise common.error(f"adjust {args.action}: name the adjustment")
    try:
        if args.action == "remove":
            adjustments.remove(Path(args.file), args.name)
        else:
            if not args.reason or args.start is None:
                raise common.error("adjust add: give --reason and --start (a time, or now)")
            if (args.end is None) == (args.duration is None):
                raise common.error("adjust add: give exactly one of --end or --duration")
            adjustments.add(
                Path(args.file), args.name, reason=args.reason, start=args.start, end=args.end,
                duration=args.duration, every=args.every, slos=args.slo or (),
                services=args.service or (),
            )  # fmt: skip
    except SpecError as exc:
        raise common.error(str(exc)) from None
    done = "removed" if args.action == "remove" else "added"
    print(f"{args.file}: adjustment {args.name} {done}; now run `slolab slo generate` "
          "(and reload Prometheus) for the rules to follow")  # fmt: skip
    return 0


def _moment(text: str) -> datetime:
    from datetime import UTC

    return datetime.now(UTC).replace(microsecond=0) if text == "now" else common.instant(text)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from slolab.slo.durations import parse_duration
    from slolab.slo.report.simulation import to_html, to_markdown
    from slolab.slo.simulate import SimulationError, simulate

    try:
        duration = parse_duration(args.duration)
        sims = [
            simulate(s, args.error_ratios, duration, budget_alerts=args.budget, rate=args.rate,
                     min_events=args.min_events)
            for s in common.selected(args)
        ]  # fmt: skip
    except SimulationError as exc:
        raise common.error(str(exc)) from None
    text = to_html(sims) if args.format == "html" else "\n".join(to_markdown(s) for s in sims)
    common.write(text, args.output, ", ".join(s.slo.name for s in sims))
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from slolab.slo import diff as d
    from slolab.slo.query import ENV_URL
    from slolab.slo.spec import SpecError

    try:
        result = d.compare(d.read_version(args.old), d.read_version(args.new), args.registry())
    except SpecError as exc:
        raise common.error(str(exc)) from None
    if args.prometheus or os.environ.get(ENV_URL):
        with common.prometheus(args) as prom:
            result = d.budgets(prom, result, args.end)
    common.write(d.to_markdown(result), args.output, f"{len(result.rules)} rule changes")
    return 1 if args.exit_code and not result.empty else 0


def _toolkit_only() -> Registry:
    from slolab.slo.generate import Registry

    return Registry()


def _cmd_convert(args: argparse.Namespace) -> int:
    from slolab.slo import openslo
    from slolab.slo.spec import SpecError, load_spec

    try:
        if args.to:
            if args.inputs:
                raise common.error("--to openslo reads the SLO file (-f), not FILE arguments")
            result = openslo.to_openslo(
                load_spec(args.file),
                source=Path(args.file).name,
                datasource_url=args.datasource_url,
            )
        else:
            if not args.inputs:
                raise common.error("--from openslo needs one or more OpenSLO files")
            texts = []
            for name in args.inputs:
                try:
                    text = sys.stdin.read() if name == "-" else Path(name).read_text("utf-8")
                except OSError as exc:
                    raise common.error(f"{name}: {exc.strerror or exc}") from None
                texts.append((text, "<stdin>" if name == "-" else name))
            result = openslo.from_openslo(texts)
    except (openslo.ConvertError, SpecError) as exc:
        raise common.error(str(exc)) from None
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    common.write(result.text, args.output, "OpenSLO v1" if args.to else "SLO file")
    return 0


def register(
    subparsers: argparse._SubParsersAction, registry: Callable[[], Registry] | None = None
) -> None:
    """Add the offline subcommands; ``registry`` makes the application's generator outputs."""

    def add(name: str, help_: str, func: Any, *, prometheus: bool = False,
            filters: bool = False) -> argparse.ArgumentParser:  # fmt: skip
        return common.add_command(
            subparsers, name, help_, func, prometheus=prometheus, filters=filters
        )

    p = add("validate", "check slos.yaml and report alert conditions left out", _cmd_validate)
    p.add_argument("--against", nargs="+", metavar="URL",
                   help="also check every selector and latency threshold against these live "
                   "/metrics endpoints (exit 1 when an SLO cannot be measured)")  # fmt: skip
    p.add_argument("--service", action="append", metavar="NAME",
                   help="with --against: only this service's SLOs (repeatable)")  # fmt: skip

    p = add("list", "list the SLOs", _cmd_list)
    p.add_argument("--format", choices=["table", "json"], default="table")

    p = add("generate", "write the rule, alert and Alertmanager files", _cmd_generate)
    p.set_defaults(registry=registry or _toolkit_only)
    p.add_argument(
        "--root", help="where the generated paths start (default: the SLO file's folder)"
    )
    p.add_argument("--check", action="store_true",
                   help="write nothing; fail when a generated file is out of date")  # fmt: skip
    p.add_argument("--only", action="append", metavar="OUTPUT",
                   help="only this output (repeatable), e.g. prometheus-rules")  # fmt: skip
    p.add_argument("--webhook-url",
                   help="Alertmanager's default webhook receiver (default: "
                   "$SLOLAB_ALERT_WEBHOOK_URL, else the application's default, else "
                   f"{DEFAULT_WEBHOOK_URL})")  # fmt: skip
    p.add_argument("--secrets-dir",
                   help="where Alertmanager finds the PagerDuty/Slack secret files "
                   f"(default: {DEFAULT_SECRETS_DIR})")  # fmt: skip

    p = add("reviews", "SLOs whose periodic review is due", _cmd_reviews,
            prometheus=False, filters=False)  # fmt: skip
    p.add_argument("action", nargs="?", choices=["list", "schedule", "done"], default="list",
                   help="list (default); schedule SLO DATE; done SLO [DATE]")  # fmt: skip
    p.add_argument("slo_name", nargs="?", metavar="SLO")
    p.add_argument("date", nargs="?", metavar="DATE", help="YYYY-MM-DD (done: default today)")
    p.add_argument("--reviewers", metavar="A,B", help="schedule: who reviews with the owner")
    p.add_argument("--as-of", type=common.iso_date, help="the day to check (default: today)")
    p.add_argument("--within", type=int, default=0, metavar="DAYS",
                   help="also list reviews due within DAYS")  # fmt: skip
    p.add_argument("--check", action="store_true", help="exit 1 when a review is due")

    p = add("adjust", "budget adjustments (planned work): list, add, remove", _cmd_adjust)
    p.add_argument("action", nargs="?", choices=["list", "add", "remove"], default="list",
                   help="list (default): the next windows; add NAME ...; remove NAME")  # fmt: skip
    p.add_argument("name", nargs="?", metavar="NAME", help="the adjustment (kebab-case)")
    p.add_argument("--reason", help="add: why (shown in alerts, reports and dashboards)")
    p.add_argument("--start", type=_moment, metavar="TIME",
                   help="add: ISO 8601 (UTC unless an offset is given), or now")  # fmt: skip
    p.add_argument("--end", type=_moment, metavar="TIME", help="add: when it ends")
    p.add_argument("--duration", type=common.span, help="add: how long, e.g. 1h (or --end)")
    p.add_argument("--every", type=common.span, help="add: recurring, e.g. 7d")
    p.add_argument("--slo", action="append", metavar="NAME",
                   help="add: for this SLO (repeatable; default: every SLO)")  # fmt: skip
    p.add_argument("--service", action="append", metavar="NAME",
                   help="add: for every SLO of this service (repeatable)")  # fmt: skip
    p.add_argument("--days", type=int, default=7, help="list: how far ahead (default: 7)")

    p = add("simulate", "when an outage pages, tickets and resolves, and its budget cost "
            "(the generated rules run by promtool)", _cmd_simulate, filters=True)  # fmt: skip
    p.add_argument("--error-ratio", dest="error_ratios", type=common.ratios, metavar="LIST",
                   help="error ratios to try, e.g. 1,0.1,0.02 (default: 100%% down to 2x "
                   "the budget)")  # fmt: skip
    p.add_argument("--duration", type=common.span, default="1h",
                   help="how long the outage lasts (default: %(default)s)")  # fmt: skip
    p.add_argument(
        "--budget",
        action="store_true",
        help="also the budget alerts (SLOErrorBudgetLow, SLOBreach) after a "
        "whole clean period; slow for 30-day periods (a minute per error ratio)",
    )
    p.add_argument("--rate", type=common.rate, metavar="N/s|N/m|N/h",
                   help="the SLI's events per second (or /m, /h) before, during and after the "
                   "outage, e.g. 10/h at night (default: steady traffic; matters with "
                   "alerting.min_events)")  # fmt: skip
    p.add_argument("--min-events", type=int, metavar="N",
                   help="simulate as if the SLOs had alerting: {min_events: N} "
                   "(0: without the minimum)")  # fmt: skip
    p.add_argument("--format", choices=["md", "html"], default="md")
    p.add_argument("--output", "-o", metavar="FILE", help="write here (default: stdout)")

    p = add("diff", "what a change to the SLO file does (markdown for a pull request)",
            _cmd_diff, prometheus=True)  # fmt: skip
    p.set_defaults(registry=registry or _toolkit_only)
    p.add_argument("old", help="the old version: a path, or REV:path (e.g. main:slos.yaml)")
    p.add_argument("new", help="the new version (e.g. slos.yaml)")
    p.add_argument("--end", type=common.instant, help="end of the budget window (default: now)")
    p.add_argument("--output", "-o", metavar="FILE", help="write here (default: stdout)")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when anything changed")

    p = add("convert", "OpenSLO v1 documents to an SLO file and back (docs/slo-spec.md#openslo)",
            _cmd_convert)  # fmt: skip
    p.set_defaults(needs_file=lambda args: args.to is not None)
    way = p.add_mutually_exclusive_group(required=True)
    way.add_argument("--from", dest="from_", choices=["openslo"],
                     help="read OpenSLO files (FILE..., -: stdin), print an SLO file")  # fmt: skip
    way.add_argument("--to", choices=["openslo"],
                     help="read the SLO file (-f), print OpenSLO documents")  # fmt: skip
    p.add_argument("inputs", nargs="*", metavar="FILE", help="with --from: the OpenSLO files")
    p.add_argument("--datasource-url", default=os.environ.get("PROMETHEUS_URL",
                   "http://127.0.0.1:9090"), metavar="URL",
                   help="with --to: the Prometheus DataSource's URL (default: $PROMETHEUS_URL "
                   "or http://127.0.0.1:9090)")  # fmt: skip
    p.add_argument("--output", "-o", metavar="FILE", help="write here (default: stdout)")
