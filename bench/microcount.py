"""Instructions of one piece of the instrumentation alone: the floor of each component.

``python -m bench.microcount`` runs each piece (``PIECES``) ``--calls`` times in its
own process under valgrind's callgrind, between the same client requests as
``bench.instructions``, after a warm-up, and prints instructions per call. The
pieces are what a request pays for in the default configuration (the table "Where
the cost goes" in docs/benchmarks.md): the request metrics (multiprocess files and
one process's memory), the ids and sampling decision, the context attach/detach,
the keep decision, the CLIENT call's propagation, and, for a kept trace only, the
span made, its OTLP protobuf encoding and the HTTP post of a batch.

    .venv/bin/python -m bench.microcount                      # every piece, ~3 min
    .venv/bin/python -m bench.microcount ids attach --calls 2000
"""

from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.instructions import _SUMMARY, REPO, _client_requests
from slolab.contract import PORTS

# name -> what one call does (the docs' table reads these)
PIECES = {
    "metrics-mp": "request metrics, multiprocess files: a bound counter inc and histogram observe",
    "metrics-1p": "the same in one process's memory (no PROMETHEUS_MULTIPROC_DIR)",
    "ids": "a request's ids and sampling decision (a non-recording span, no SDK span)",
    "attach": "its context attached and detached around the request",
    "keep-drop": "the keep decision for a dropped trace (verdict, discard)",
    "exemplar": "the exemplar look-up of a dropped trace (one more verdict)",
    "client-dropped": "an httpx call's CLIENT side, trace dropped: ids, traceparent, deferred",
    "client-bare": "the same call without ClientTracing (its baseline)",
    "asgi-dropped": "AsgiTracing around a minimal ASGI app (a JSON 200), trace dropped",
    "asgi-bare": "the same app without AsgiTracing (its baseline)",
    "span-kept": "a kept request's finished SERVER span made and queued for export",
    "span-sdk": "the same as an SDK span (start, attributes, end): what was built before",
    "encode": "a SERVER span encoded to OTLP protobuf, in a batch of 100 (per span): slolab.otlp",
    "encode-library": "the same with the library's encoder (encode_spans): the anchor",
    "encode-sdk-resource": "the library's with the SDK's own Resource (hashed per span)",
    "post": "one batch of 10 spans posted over OTLP/HTTP to a discarding endpoint",
}
ENCODED = 100  # spans per encoded batch ("encode")
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736  # low half above 10%: dropped by the ratio


def _provider(exporting: bool = True, resource: Any = None) -> Any:
    """The process's tracer provider and keep decision, as setup_tracing installs them
    (its resource: ``telemetry.service_resource`` unless another is given)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from slolab import telemetry

    provider = TracerProvider(resource=resource or telemetry.service_resource("predictor"))

    class Queue:
        def __init__(self) -> None:
            self.spans: list[Any] = []

        def on_end(self, span: Any) -> None:
            self.spans.append(span)
            if len(self.spans) > 1000:
                self.spans.clear()

        def shutdown(self) -> None: ...

        def force_flush(self, timeout_millis: int = 0) -> bool:
            return True

    if exporting:
        keep = telemetry.TailKeepProcessor(Queue(), telemetry.KeepPolicy(0.5, 0.1))  # type: ignore[arg-type]
        provider.add_span_processor(keep)
        telemetry._keeper = keep
    trace.set_tracer_provider(provider)
    return provider


def _server_attributes() -> dict[str, Any]:
    return {
        "http.request.method": "POST", "url.scheme": "http", "url.path": "/predict",
        "server.address": "127.0.0.1", "server.port": PORTS["predictor"],
        "network.protocol.version": "1.1",
        "client.address": "127.0.0.1", "user_agent.original": "wrk",
    }  # fmt: skip


def _span() -> Any:
    from opentelemetry.trace import SpanContext, TraceFlags

    from slolab.httptrace import _server_span

    ids = SpanContext(TRACE_ID, 0x00F067AA0BA902B7, False, TraceFlags(1))
    parent = SpanContext(TRACE_ID, 0x0102030405060708, True, TraceFlags(1))
    attrs = _server_attributes()
    return _server_span(ids, parent, "POST", attrs, 1, 2, 200, "/predict", None)


def _piece(name: str) -> Callable[[], object]:
    """What one call of the piece runs (set up here, outside the counted window)."""
    if name in ("metrics-mp", "metrics-1p"):
        # prometheus_client chooses its value store when imported: count() set the folder
        assert (name == "metrics-mp") == bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        from prometheus_client import CollectorRegistry, Counter, Histogram

        from slolab.contract import BUCKETS

        registry = CollectorRegistry()
        inc = Counter("r", "r", ("h", "m", "s"), registry=registry).labels("/p", "POST", "200").inc
        observe = Histogram("d", "d", ("h", "m", "s"), buckets=BUCKETS, registry=registry)
        obs = observe.labels("/p", "POST", "200").observe

        def metrics() -> None:
            t0 = time.perf_counter()
            inc()
            obs(time.perf_counter() - t0)

        return metrics
    from opentelemetry import context, propagate, trace
    from opentelemetry.sdk.resources import Resource

    from slolab import httptrace, telemetry

    # encode-sdk-resource: the resource as the SDK creates it, as services had it before
    sdk = Resource.create({"service.name": "predictor"}) if name == "encode-sdk-resource" else None
    provider = _provider(resource=sdk)
    span = httptrace._placeholder(None, "POST")
    if name == "ids":
        return lambda: httptrace._placeholder(None, "POST")
    if name == "attach":
        return lambda: context.detach(context.attach(trace.set_span_in_context(span)))
    keep = telemetry.keeper()
    assert keep is not None
    if name == "keep-drop":

        def keep_drop() -> None:
            keep.verdict(TRACE_ID, 0.001, False)
            keep.discard(TRACE_ID)

        return keep_drop
    if name == "exemplar":
        fixed = trace.NonRecordingSpan(
            trace.SpanContext(TRACE_ID, 1, False, trace.TraceFlags(1))
        )  # dropped by the ratio
        context.attach(trace.set_span_in_context(fixed))
        return lambda: telemetry.trace_exemplar(0.001, False)
    if name in ("client-dropped", "client-bare"):
        import httpx

        answer = httpx.Response(200, headers={"traceresponse": f"00-{TRACE_ID:032x}-{1:016x}-00"})

        class Inner:
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                return answer

        transport: Any = Inner()
        if name == "client-dropped":
            transport = httptrace.ClientTracing(transport)
        fixed = trace.NonRecordingSpan(
            trace.SpanContext(TRACE_ID, 1, False, trace.TraceFlags(1))
        )  # the request's SERVER span, dropped by the ratio
        context.attach(trace.set_span_in_context(fixed))
        request = httpx.Request("POST", f"http://127.0.0.1:{PORTS['predictor']}/predict", json={})

        def call() -> None:
            transport.handle_request(request)
            keep.discard(TRACE_ID)  # as the root's end does

        return call
    if name in ("asgi-dropped", "asgi-bare"):
        import asyncio

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})

        served: Any = httptrace.AsgiTracing(app) if name == "asgi-dropped" else app
        port = PORTS["predictor"]
        scope = {
            "type": "http", "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/predict", "server": ("127.0.0.1", port), "client": ("127.0.0.1", 50000),
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                        (b"content-length", b"2"), (b"user-agent", b"wrk")],
        }  # fmt: skip

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            pass

        loop = asyncio.new_event_loop()
        ids = iter(range(1 << 20, 1 << 30))

        # Trace ids the ratio drops (their low 64 bits above 10%), the same in every run.
        provider.id_generator.generate_trace_id = lambda: TRACE_ID + next(ids)

        def asgi() -> None:
            loop.run_until_complete(served(scope, receive, send))

        return asgi
    if name == "span-kept":
        return lambda: keep.on_end(_span())
    if name == "span-sdk":
        tracer = provider.get_tracer("bench")

        def sdk() -> None:
            s = tracer.start_span("POST", kind=trace.SpanKind.SERVER, record_exception=False)
            s.set_attributes(_server_attributes())
            s.set_attribute("http.response.status_code", 200)
            s.set_attribute("http.route", "/predict")
            s.update_name("POST /predict")
            s.end()

        return sdk
    if name.startswith("encode"):
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        from slolab import otlp

        if name == "encode":
            encode_spans = otlp.encode_spans
        batch = [_span() for _ in range(ENCODED)]
        return lambda: encode_spans(batch).SerializeToString()
    if name == "post":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=os.environ["BENCH_OTLP_ENDPOINT"] + "/v1/traces")
        batch = [_span() for _ in range(10)]
        return lambda: exporter.export(batch)
    del propagate
    raise SystemExit(f"unknown piece {name!r}")


def _run_marked(name: str, calls: int) -> int:
    """In the child under callgrind: warm up, then ``calls`` calls between the markers."""
    piece = _piece(name)
    for _ in range(max(20, calls // 10)):
        piece()
    marks = ctypes.CDLL(os.environ["BENCH_CALLGRIND_LIB"])
    marks.bench_start()
    for _ in range(calls):
        piece()
    marks.bench_dump()
    return 0


def count(name: str, calls: int, lib: Path, workdir: Path, endpoint: str) -> float:
    out = workdir / f"micro-{name}"
    argv = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--instr-atstart=no",
        sys.executable, "-m", "bench.microcount", "--child", name, "--calls", str(calls),
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONHASHSEED": "0",
        "BENCH_CALLGRIND_LIB": str(lib),
        "BENCH_OTLP_ENDPOINT": endpoint,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if name == "metrics-mp":
        env["PROMETHEUS_MULTIPROC_DIR"] = str(workdir / "metrics-mp")
        (workdir / "metrics-mp").mkdir(exist_ok=True)
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{name}: {done.stderr.decode(errors='replace')[-2000:]}")
    found = _SUMMARY.search((out.with_name(out.name + ".1")).read_bytes())
    if found is None:
        raise RuntimeError(f"{name}: no instruction total")
    return int(found.group(1)) / calls


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.microcount", description=__doc__)
    p.add_argument("pieces", nargs="*", default=list(PIECES), help=", ".join(PIECES))
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _run_marked(args.child, args.calls)
    unknown = set(args.pieces) - set(PIECES)
    if unknown or args.calls < 1:
        p.error(f"pieces: {', '.join(PIECES)}; --calls >= 1")
    from bench.sink import DiscardingSink

    with DiscardingSink() as sink, tempfile.TemporaryDirectory(prefix="slolab-micro-") as tmp:
        lib = _client_requests(Path(tmp))
        if lib is None:
            raise SystemExit("needs cc and valgrind's headers (valgrind/callgrind.h)")
        print("| piece | instructions per call | what |")
        print("|---|---:|---|")
        for name in args.pieces:
            batched = name == "post" or name.startswith("encode")
            calls = max(1, args.calls // (ENCODED if batched else 1))
            per = count(name, calls, lib, Path(tmp), sink.endpoint)
            per /= ENCODED if name.startswith("encode") else 1
            print(f"| {name} | {per / 1e3:,.1f} k | {PIECES[name]} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
