"""Where a request's CPU goes: CPU per request in-process, per configuration, and a profile.

``python -m bench.profile list|predict [--mode default] [--profile]`` builds the
service's app in this process with a configuration of ``bench.run.CONFIGS``
(spans queued for an OTLP exporter, encoded when a batch fills, as in the
services), calls it directly — WSGI for tasks' list, ASGI for the predictor —
and prints the best-of-3 CPU time per request; ``--profile`` adds a pyinstrument
profile of the calls (the server's own HTTP layer is not in it: granian's is Rust,
uvicorn's httptools). Run one configuration per process: tracing is set up once.

``--markers`` is for ``bench.instructions``: a short warm-up, then the measured
calls between two marker calls that callgrind zeroes and dumps its counters at
(``os.getloadavg``, ``sys.getswitchinterval``: C functions nothing else calls
here; or, faster, callgrind's client requests in ``BENCH_CALLGRIND_LIB``), the
queued spans exported inside that window. ``create`` (tasks' side of
``POST /api/tasks``, the predictor call included) needs ``PREDICTOR_URL``.

``--mode instrumentator`` (predict only) is the anchor of the predictor's request
metrics: instrumentation off, prometheus-fastapi-instrumentator's middleware
recording the same series instead; compare it with ``--mode metrics`` (ours,
tracing off). docs/benchmarks.md has the figures and the loop that alternates them.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import io
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable

from bench.run import CONFIGS, EXPORTING
from slolab.contract import PORTS

FEATURES = {"title_length": 24, "urgent_words": 1, "due_in_days": 2.0, "estimated_hours": 3.5}


# What services/predictor/metrics.py replaced, kept as its benchmark's anchor.
INSTRUMENTATOR = "instrumentator"


# Configurations that take the default apart, one component at a time (the table
# "Where the cost goes" in docs/benchmarks.md): name -> (settings, exporting).
COMPONENTS: dict[str, tuple[dict[str, str], bool]] = {
    # request metrics in one process's memory (no PROMETHEUS_MULTIPROC_DIR)
    "metrics-1p": ({"OTEL_SDK_DISABLED": "true"}, False),
    # metrics + the SERVER span recorded, no exporter: no keep decision, no export
    "recorded": ({}, False),
    # ... + the keep decision, the ratio at 0: nothing fast is exported
    "decided": ({"SLOLAB_TRACE_KEEP_RATIO": "0"}, True),
}
PROFILE_MODES = (*CONFIGS, *COMPONENTS)


def _configure(mode: str, workload: str) -> None:
    if mode == INSTRUMENTATOR and workload != "predict":
        raise SystemExit(f"--mode {INSTRUMENTATOR} measures the predictor only")
    settings, exporting = COMPONENTS.get(mode, (None, mode in EXPORTING))
    if settings is None:
        settings = CONFIGS["off" if mode == INSTRUMENTATOR else mode]
    os.environ.update(settings)
    if exporting:
        # By default nothing listens there: batches are encoded, then fail fast (no
        # network cost); bench.instructions gives a discarding endpoint instead.
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = os.environ.get(
            "BENCH_OTLP_ENDPOINT", "http://127.0.0.1:9"
        )
    os.environ["SLOLAB_STATE_DIR"] = tempfile.mkdtemp(prefix="slolab-profile-")
    os.environ["LOG_LEVEL"] = "ERROR"
    os.environ["PREDICTOR_RETRAIN_INTERVAL_S"] = "0"
    if workload in ("list", "create") and mode != "metrics-1p":
        # tasks runs several workers: multiprocess metrics
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="slolab-profile-mp-")
    # prometheus_client chose its value store (multiprocess files or memory) when first
    # imported, before the line above (bench.run's imports): choose again, before the
    # app makes its metrics. Without this the list and create counted one process's store.
    from prometheus_client import values

    values.ValueClass = values.get_value_class()


def _tasks_call(workload: str) -> Callable[[], None]:
    from slolab.services.tasks.app import create_app
    from slolab.telemetry import setup_tracing

    setup_tracing("tasks")
    app = create_app()
    client = app.test_client()
    for i in range(100):
        client.post("/api/tasks", json={"title": f"seeded task {i}"})

    def start_response(*args: object) -> None:
        pass

    create = workload == "create"
    body = json.dumps({"title": "fix the bench", "due_in_days": 2}).encode()
    port = str(PORTS["tasks"])

    def call() -> None:
        environ = {
            "REQUEST_METHOD": "GET", "PATH_INFO": "/api/tasks", "QUERY_STRING": "limit=20",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": port, "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
            "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": f"127.0.0.1:{port}", "HTTP_USER_AGENT": "wrk",
        }  # fmt: skip
        if create:
            environ.update(
                REQUEST_METHOD="POST", QUERY_STRING="", CONTENT_TYPE="application/json",
                CONTENT_LENGTH=str(len(body)), **{"wsgi.input": io.BytesIO(body)},
            )  # fmt: skip
        body_out = app(environ, start_response)
        b"".join(body_out)
        getattr(body_out, "close", lambda: None)()

    return call


def _predict_call(mode: str) -> Callable[[], None]:
    from slolab.services.predictor.app import create_app
    from slolab.telemetry import setup_tracing

    setup_tracing("predictor")
    app = create_app()
    if mode == INSTRUMENTATOR:
        from prometheus_client import CollectorRegistry
        from prometheus_fastapi_instrumentator import Instrumentator
        from prometheus_fastapi_instrumentator.metrics import Info

        from slolab.services.predictor.metrics import EXCLUDED_HANDLERS

        metrics = app.state.predictor.metrics

        def observe(info: Info) -> None:
            metrics.observe_http(
                info.modified_handler, info.method, info.response.status_code,
                info.modified_duration,
            )  # fmt: skip

        # As the predictor was set up before its own middleware: the same series,
        # exact status codes, unknown paths as handler "none", probes left out.
        Instrumentator(
            should_group_status_codes=False, should_ignore_untemplated=False,
            should_group_untemplated=True, excluded_handlers=list(EXCLUDED_HANDLERS),
            registry=CollectorRegistry(),
        ).add(observe).instrument(app)  # fmt: skip
    payload = json.dumps(FEATURES).encode()
    loop = asyncio.new_event_loop()
    port = PORTS["predictor"]
    host = f"127.0.0.1:{port}".encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/predict", "raw_path": b"/predict", "query_string": b"",
        "root_path": "", "server": ("127.0.0.1", port), "client": ("127.0.0.1", 50000),
        "headers": [(b"host", host), (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()), (b"user-agent", b"wrk")],
    }  # fmt: skip

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        pass

    def call() -> None:
        loop.run_until_complete(app(dict(scope), receive, send))

    return call


def _between_markers(call: Callable[[], None], calls: int) -> int:
    from opentelemetry import trace

    for _ in range(WARMUP_MARKED):
        call()
    provider = trace.get_tracer_provider()
    flush = getattr(provider, "force_flush", lambda: True)
    flush()  # the warm-up's spans leave before the window opens
    # The same trace ids in every run: the ratio keeps the same traces, so the same
    # number of spans is encoded in the window.
    random.seed(WARMUP_MARKED)
    lib = os.environ.get("BENCH_CALLGRIND_LIB")
    marks = ctypes.CDLL(lib) if lib else None
    if marks is not None:
        marks.bench_start()  # callgrind: start instrumenting, from zero
    os.getloadavg()  # callgrind: --zero-before
    for _ in range(calls):
        call()
    flush()  # the window's spans are encoded and posted inside it
    if marks is not None:
        marks.bench_dump()
    sys.getswitchinterval()  # callgrind: --dump-before
    return 0


# Enough for every cache of the request path (route children, label children,
# the interpreter's specialisation) to be warm before the counted calls.
WARMUP_MARKED = 30


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    p.add_argument("workload", choices=("list", "predict", "create"))
    p.add_argument("--mode", choices=(*PROFILE_MODES, INSTRUMENTATOR), default="default")
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--profile", action="store_true", help="print a pyinstrument profile")
    p.add_argument("--markers", action="store_true", help="for bench.instructions (above)")
    args = p.parse_args(argv)
    _configure(args.mode, args.workload)
    call = _predict_call(args.mode) if args.workload == "predict" else _tasks_call(args.workload)
    if args.markers:
        return _between_markers(call, args.calls)
    for _ in range(300):
        call()
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        for _ in range(args.calls):
            call()
        best = min(best, (time.process_time() - t0) / args.calls)
    print(f"{args.workload} {args.mode}: {best * 1e6:.0f} µs CPU per request (in-process)")
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
        with profiler:
            for _ in range(args.calls):
                call()
        print(profiler.output_text(unicode=True, color=False, short_mode=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
