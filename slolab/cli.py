"""The ``slolab`` command: parses arguments and calls the modules that do the work."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx

from slolab.contract import PORTS, SERVICES
from slolab.errors import CLIError
from slolab.faults import FAULT_FIELDS

__all__ = ["CLIError", "main"]

DEFAULT_URLS = {name: f"http://127.0.0.1:{PORTS[name]}" for name in SERVICES}


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
            raise CLIError(f"expected name=value, got {item!r} (faults: {', '.join(FAULT_FIELDS)})")
        try:
            changes[key] = json.loads(raw)  # numbers and true/false
        except ValueError:
            changes[key] = raw
    return changes


def _cmd_fault(args: argparse.Namespace) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slolab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run a service with its production server")
    p.add_argument("service", choices=["tasks", "predictor"])
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("fault", help="switch injected faults of a running service")
    p.add_argument("action", choices=["set", "clear", "show"])
    p.add_argument("service", choices=["tasks", "predictor"])
    p.add_argument("assignments", nargs="*", metavar="name=value",
                   help=f"faults to set: {', '.join(FAULT_FIELDS)}")  # fmt: skip
    p.add_argument("--expires-in", type=float, metavar="SECONDS",
                   help="switch the faults off by themselves after this long")  # fmt: skip
    p.add_argument("--url", help="service base URL (default $TASKS_URL / $PREDICTOR_URL)")
    p.set_defaults(func=_cmd_fault)

    p = sub.add_parser("alert-receiver", help="print every alert Alertmanager sends (webhook)")
    p.add_argument("--host", default=os.environ.get("ALERT_RECEIVER_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("ALERT_RECEIVER_PORT", "5001")))
    p.set_defaults(func=_cmd_alert_receiver)

    _register_optional(sub)
    return parser


def _register_optional(sub: argparse._SubParsersAction) -> None:
    """Add the command groups that live in their own packages."""
    from slolab import demo
    from slolab.lab.cli import register as register_lab
    from slolab.slo.cli import register as register_slo

    p = sub.add_parser("slo", help="SLO as code: validate, generate, status, report, gate")
    # The demo's dashboards and alert receiver for `slolab slo generate` and `diff`.
    register_slo(p.add_subparsers(dest="slo_command", required=True), registry=demo.registry)
    register_lab(sub)
    from slolab.web.cli import register as register_dashboard

    register_dashboard(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "file") and not args.file:
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
