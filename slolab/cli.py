"""The ``slolab`` command: parses arguments and calls the modules that do the work.

Only the chosen command's modules are imported: ``slolab alert-receiver`` and
``slolab serve`` (long-running, one per container) load neither the SLO toolkit
nor the lab. ``slolab --help`` (or an unknown command) builds every command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from slolab.contract import FAULTS, PORTS, SERVICES
from slolab.errors import CLIError

__all__ = ["CLIError", "build_parser", "main"]

DEFAULT_URLS = {name: f"http://127.0.0.1:{PORTS[name]}" for name in SERVICES}
FAULT_NAMES = ", ".join(f.name for f in FAULTS)


def _cmd_serve(args: argparse.Namespace) -> int:
    from slolab.serve import serve

    try:
        serve(args.service)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    return 0  # not reached: serve() replaces the process


def _service_url(service: str, explicit: str | None) -> str:
    return (explicit or os.environ.get(f"{service.upper()}_URL") or DEFAULT_URLS[service]).rstrip(
        "/"
    )


def _parse_assignments(items: Sequence[str]) -> dict[str, object]:
    changes: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CLIError(f"expected name=value, got {item!r} (faults: {FAULT_NAMES})")
        try:
            changes[key] = json.loads(raw)  # numbers and true/false
        except ValueError:
            changes[key] = raw
    return changes


def _cmd_fault(args: argparse.Namespace) -> int:
    import httpx

    token = os.environ.get("SLOLAB_ADMIN_TOKEN")
    if not token:
        raise CLIError("SLOLAB_ADMIN_TOKEN is not set: it must match the service's token")
    url = f"{_service_url(args.service, args.url)}/admin/faults"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        if args.action == "set":
            changes = _parse_assignments(args.assignments)
            if args.expires_in is not None:
                changes["expires_in_s"] = args.expires_in
            if not changes:
                raise CLIError("nothing to set: give at least one name=value")
            resp = httpx.put(url, json=changes, headers=headers, timeout=5)
        elif args.action == "clear":
            resp = httpx.delete(url, headers=headers, timeout=5)
        else:
            resp = httpx.get(url, headers=headers, timeout=5)
    except httpx.HTTPError as exc:
        raise CLIError(f"cannot reach {args.service} at {url}: {exc}") from None
    try:
        body = resp.json()
    except ValueError:
        body = {"error": resp.text[:200]}
    if resp.status_code != 200:
        raise CLIError(f"{args.service} answered {resp.status_code}: {body.get('error', body)}")
    print(json.dumps(_readable_times(body), indent=2))
    return 0


def _readable_times(body: dict[str, object]) -> dict[str, object]:
    """The API's unix times (``*_at``) as ISO 8601 in UTC, which people can read."""
    out = dict(body)
    for key, value in body.items():
        if key.endswith("_at") and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = (
                datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")
                .replace("+00:00", "Z")
            )  # fmt: skip
    return out


def _cmd_alert_receiver(args: argparse.Namespace) -> int:
    from slolab.lab.webhook import serve_forever

    try:
        serve_forever(args.host, args.port)
    except OSError as exc:
        raise CLIError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    return 0


def _add_builtin(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run a service with its production server")
    p.add_argument("service", choices=["tasks", "predictor"])
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("fault", help="switch injected faults of a running service")
    p.add_argument("action", choices=["set", "clear", "show"])
    p.add_argument("service", choices=["tasks", "predictor"])
    p.add_argument("assignments", nargs="*", metavar="name=value",
                   help=f"faults to set: {FAULT_NAMES}")  # fmt: skip
    p.add_argument("--expires-in", type=float, metavar="SECONDS",
                   help="switch the faults off by themselves after this long")  # fmt: skip
    p.add_argument("--url", help="service base URL (default $TASKS_URL / $PREDICTOR_URL)")
    p.set_defaults(func=_cmd_fault)

    p = sub.add_parser("alert-receiver", help="print every alert Alertmanager sends (webhook)")
    p.add_argument("--host", default=os.environ.get("ALERT_RECEIVER_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("ALERT_RECEIVER_PORT", "5001")))
    p.set_defaults(func=_cmd_alert_receiver)


def _add_slo(sub: argparse._SubParsersAction) -> None:
    from slolab import demo
    from slolab.slo.cli import register

    p = sub.add_parser("slo", help="SLO as code: validate, generate, status, report, gate")
    # The demo's dashboards and alert receiver for `slolab slo generate` and `diff`.
    register(p.add_subparsers(dest="slo_command", required=True), registry=demo.registry)


def _add_lab(sub: argparse._SubParsersAction) -> None:
    from slolab.lab.cli import register

    register(sub)


def _add_scenario(sub: argparse._SubParsersAction) -> None:
    from slolab.scenario.cli import register

    register(sub)


def _add_dashboard(sub: argparse._SubParsersAction) -> None:
    from slolab.web.cli import register

    register(sub)


# Command names -> what adds them, in `slolab --help` order. The command groups
# in their own packages are imported only when one of their commands is chosen.
COMMANDS: tuple[tuple[tuple[str, ...], Callable[[argparse._SubParsersAction], None]], ...] = (
    (("serve", "fault", "alert-receiver"), _add_builtin),
    (("slo",), _add_slo),
    (("lab", "history"), _add_lab),
    (("dashboard",), _add_dashboard),
    (("scenario",), _add_scenario),
)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: its command only, or every command (no argv, or unknown)."""
    parser = argparse.ArgumentParser(prog="slolab", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    # The top level has no option but --help: a command word comes first or not at all.
    chosen = argv[0] if argv and not argv[0].startswith("-") else None
    if not any(chosen in names for names, _ in COMMANDS):
        chosen = None  # help, or an unknown command: argparse lists them all
    for names, add in COMMANDS:
        if chosen is None or chosen in names:
            add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    # A command may need the SLO file only in some uses (convert --to, not --from).
    needs_file = getattr(args, "needs_file", None)
    if hasattr(args, "file") and not args.file and (needs_file is None or needs_file(args)):
        from slolab.slo.files import find_slo_file, searched_message

        found = find_slo_file()
        if not found.is_file():
            print(f"slolab: error: {searched_message()}", file=sys.stderr)
            return 2
        args.file = str(found)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"slolab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
