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
    print(f"{args.file}: {len(slos)} SLOs valid")
    return 0


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
    from slolab.slo.generate import GenerateOptions, plan

    slos = _load(args.file)
    root = Path(args.root) if args.root else Path(args.file).resolve().parent
    options = GenerateOptions(
        source=Path(args.file).name,
        webhook_url=args.webhook_url
        or os.environ.get("SLOLAB_ALERT_WEBHOOK_URL")
        or DEFAULT_WEBHOOK_URL,
        secrets_dir=args.secrets_dir,
    )
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

    add("validate", "check slos.yaml and report alert conditions left out", _cmd_validate)

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
                   f"$SLOLAB_ALERT_WEBHOOK_URL or {DEFAULT_WEBHOOK_URL})")  # fmt: skip
    p.add_argument("--secrets-dir", default=DEFAULT_SECRETS_DIR,
                   help="where Alertmanager finds the PagerDuty/Slack secret files")  # fmt: skip

    # The toolkit's commands (status, report, trends, gate, reviews, query) live beside.
    from slolab.slo.toolkit_cli import register_toolkit

    register_toolkit(subparsers)
