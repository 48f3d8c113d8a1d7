"""``slolab slo …``: argument parsing only; the work happens in slolab.slo modules.

``register(subparsers)`` adds the subcommands; each sets ``func`` (called with the
parsed arguments, returns the exit code). Errors are raised as
``slolab.cli.CLIError`` so the front end prints them as one line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from slolab.slo.files import FILE_HELP
from slolab.slo.generate.output import DEFAULT_SECRETS_DIR, DEFAULT_WEBHOOK_URL

__all__ = ["register"]



def _error(message: str) -> Exception:
    from slolab.cli import CLIError

    return CLIError(message)


def _load(path: str) -> list:
    from slolab.slo.model import load
    from slolab.slo.spec import SpecError

    try:
        return load(path)
    except SpecError as exc:
        raise _error(str(exc)) from None


def _cmd_validate(args: argparse.Namespace) -> int:
    from slolab.slo.generate.alerts import dropped_notes

    slos = _load(args.file)
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
            raise _error(f"--service: no SLOs for {', '.join(args.service)}")
    try:
        targets = [against.fetch(url) for url in args.against]
    except ValueError as exc:
        raise _error(str(exc)) from None
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

    table = rows(_load(args.file))
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
    from slolab.slo.generate import default_options, plan

    slos = _load(args.file)
    root = Path(args.root) if args.root else Path(args.file).resolve().parent
    overrides = {"source": Path(args.file).name}
    webhook = args.webhook_url or os.environ.get("SLOLAB_ALERT_WEBHOOK_URL")
    if webhook:
        overrides["webhook_url"] = webhook
    if args.secrets_dir:
        overrides["secrets_dir"] = args.secrets_dir
    options = default_options(**overrides)
    try:
        result = plan(slos, root, options, only=args.only)
    except ValueError as exc:
        raise _error(str(exc)) from None
    if args.check:
        stale = result.stale(root)
        if stale:
            raise _error(
                "generated files are out of date (run `slolab slo generate`): " + ", ".join(stale)
            )
        print(f"{len(result.files)} generated files up to date")
        return 0
    for rel in result.write(root):
        print(f"{'removed' if rel in result.obsolete else 'wrote'} {rel}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``slolab slo`` subcommands to ``subparsers``."""

    def add(name: str, help_: str, func: object) -> argparse.ArgumentParser:
        p = subparsers.add_parser(name, help=help_)
        p.add_argument(
            "--file", "-f", help=FILE_HELP
        )
        p.set_defaults(func=func)
        return p

    p = add("validate", "check slos.yaml and report alert conditions left out", _cmd_validate)
    p.add_argument("--against", nargs="+", metavar="URL",
                   help="also check every selector and latency threshold against these live "
                   "/metrics endpoints (exit 1 when an SLO cannot be measured)")  # fmt: skip
    p.add_argument("--service", action="append", metavar="NAME",
                   help="with --against: only this service's SLOs (repeatable)")  # fmt: skip

    p = add("list", "list the SLOs", _cmd_list)
    p.add_argument("--format", choices=["table", "json"], default="table")

    p = add("generate", "write the rule, alert and Alertmanager files", _cmd_generate)
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

    # The toolkit's commands (status, report, trends, gate, reviews, query) live beside.
    from slolab.slo.toolkit_cli import register_toolkit

    register_toolkit(subparsers)
