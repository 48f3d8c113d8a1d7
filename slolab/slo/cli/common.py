"""What every ``slolab slo`` command shares: errors, loading, filters, Prometheus, types.

Commands raise :class:`slolab.errors.CLIError` (via :func:`error`); the
``slolab`` front end prints it as one line and exits 2.
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

from slolab.errors import CLIError
from slolab.slo.files import FILE_HELP

__all__ = [
    "ENV_POLICIES",
    "Command",
    "add_command",
    "console",
    "error",
    "instant",
    "iso_date",
    "policies",
    "prometheus",
    "ratios",
    "selected",
    "slos",
    "span",
    "write",
]

ENV_POLICIES = "SLOLAB_SLO_POLICIES"
Command = Callable[[argparse.Namespace], int]


def error(message: str) -> CLIError:
    return CLIError(message)


def add_command(
    subparsers: argparse._SubParsersAction, name: str, help_: str, func: Command, *,
    prometheus: bool = False, filters: bool = False,
) -> argparse.ArgumentParser:  # fmt: skip
    """A ``slolab slo NAME`` subcommand with --file and, if asked, --prometheus and filters."""
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


def slos(args: argparse.Namespace) -> list:
    from slolab.slo.model import load
    from slolab.slo.spec import SpecError

    try:
        return load(args.file)
    except SpecError as exc:
        raise error(str(exc)) from None


def selected(args: argparse.Namespace) -> list:
    from slolab.slo.selection import select

    try:
        return select(slos(args), args.service or (), args.slo or ())
    except ValueError as exc:
        raise error(str(exc)) from None


def policies(args: argparse.Namespace) -> Any:
    from slolab.slo.policy import PolicyError, load_policies

    path = args.policies or os.environ.get(ENV_POLICIES)
    if not path:
        return None  # each SLO's own: the `policy:` of slos.yaml, else the built-in one
    try:
        return load_policies(path)
    except PolicyError as exc:
        raise error(str(exc)) from None


@contextmanager
def prometheus(args: argparse.Namespace) -> Iterator[Any]:
    """A client for --prometheus/$PROMETHEUS_URL; its errors become one-line CLI errors."""
    from slolab.slo.query import Prometheus, PrometheusError

    try:
        with Prometheus(args.prometheus, timeout=args.timeout) as prom:
            yield prom
    except PrometheusError as exc:
        raise error(str(exc)) from None


def console() -> Any:
    from rich.console import Console

    # Piped output (CI logs, tests) gets a wide table instead of rich's 80 columns.
    return Console(width=None if sys.stdout.isatty() else 200)


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-01-31") from None


def instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time like 2026-01-31T12:00:00+00:00"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def span(text: str) -> str:
    from slolab.slo.durations import parse_duration

    try:
        parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def ratios(text: str) -> list[float]:
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


_PER = {"s": 1, "m": 60, "h": 3600}


def rate(text: str) -> float:
    """Events per second from ``0.05``, ``0.05/s``, ``3/m`` or ``10/h``."""
    number, _, unit = text.strip().partition("/")
    try:
        value = float(number) / _PER[unit or "s"]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a rate like 0.05/s, 3/m or 10/h (events per second, minute, hour)"
        ) from None
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: the rate must be above zero")
    return value


def write(text: str, output: str | None, what: str) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {output}: {what}")
    else:
        sys.stdout.write(text)
