"""``slolab dashboard``: serve the browser dashboard (argument parsing only)."""

from __future__ import annotations

import argparse
import os

from slolab.contract import PORTS
from slolab.errors import CLIError
from slolab.slo.files import FILE_HELP

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dashboard",
        help="serve a live SLO dashboard in the browser (any Prometheus, any slos.yaml)",
    )
    p.add_argument("--file", "-f", help=FILE_HELP)
    p.add_argument("--prometheus", metavar="URL",
                   help="Prometheus base URL (default: $PROMETHEUS_URL)")  # fmt: skip
    p.add_argument("--host", default=os.environ.get("DASHBOARD_HOST", "127.0.0.1"),
                   help="bind address (default: $DASHBOARD_HOST or %(default)s)")  # fmt: skip
    p.add_argument("--port", type=int,
                   default=int(os.environ.get("DASHBOARD_PORT") or PORTS["dashboard"]),
                   help="(default: $DASHBOARD_PORT or %(default)s)")  # fmt: skip
    p.add_argument("--refresh", type=float,
                   default=float(os.environ.get("DASHBOARD_REFRESH_S") or 5.0),
                   help="seconds between page updates (default: %(default)s)")  # fmt: skip
    p.add_argument("--jaeger-url", default=os.environ.get("JAEGER_URL") or None,
                   help="link trace ids to this Jaeger UI (default: $JAEGER_URL)")  # fmt: skip
    p.add_argument("--traces-db", metavar="PATH",
                   default=os.environ.get("SLOLAB_TRACES_DB") or None,
                   help="the trace store the lab's OTLP receiver writes: a trace view at /traces "
                   "(default: $SLOLAB_TRACES_DB)")  # fmt: skip
    p.add_argument("--gameday-state", default=os.environ.get("SLOLAB_GAMEDAY_STATE") or None,
                   metavar="FILE", help="show the game day whose live scorecard this "
                   "file holds (scenario run --state; default: $SLOLAB_GAMEDAY_STATE)")  # fmt: skip
    p.set_defaults(func=_cmd_dashboard)


def _cmd_dashboard(args: argparse.Namespace) -> int:
    import uvicorn

    from slolab.contract import FAULT_METRIC
    from slolab.slo.model import load
    from slolab.slo.query import prometheus_url
    from slolab.slo.spec import SpecError
    from slolab.web.app import create_app
    from slolab.web.data import DashboardSettings

    try:
        slos = load(args.file)
    except SpecError as exc:
        raise CLIError(str(exc)) from None
    if args.refresh <= 0:
        raise CLIError(f"--refresh must be positive, got {args.refresh:g}")
    settings = DashboardSettings(
        faults_query=f"{FAULT_METRIC} == 1",
        jaeger_url=args.jaeger_url,
        refresh_seconds=args.refresh,
    )
    url = prometheus_url(args.prometheus)
    from pathlib import Path

    state = Path(args.gameday_state) if args.gameday_state else None
    app = create_app(
        slos, url, settings, traces_db=Path(args.traces_db) if args.traces_db else None,
        gameday_state=state,
    )  # fmt: skip
    print(f"dashboard: http://{args.host}:{args.port}/ ({len(slos)} SLOs, Prometheus {url})",
          flush=True)  # fmt: skip
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    except OSError as exc:
        raise CLIError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    return 0
