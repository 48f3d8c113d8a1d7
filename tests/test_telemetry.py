import json
import logging
import os
import subprocess
import sys
import textwrap
import time

import pytest
from opentelemetry import trace

from slolab import telemetry
from slolab.httptrace import WsgiTracing
from tests.otlp_sink import OTLPSink

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only


def test_json_log_lines_carry_trace_and_span_ids(capsys) -> None:
    formatter = telemetry.JsonFormatter("tasks")
    tracer = trace.get_tracer("test")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    assert "trace_id" not in json.loads(formatter.format(record))
    provider = telemetry.TracerProvider()
    with provider.get_tracer("t").start_as_current_span("op") as span:
        line = json.loads(formatter.format(record))
        ctx = span.get_span_context()
    assert line["msg"] == "hello you" and line["service"] == "tasks"
    assert line["trace_id"] == format(ctx.trace_id, "032x")
    assert line["span_id"] == format(ctx.span_id, "016x")
    assert tracer is not None


def test_exporter_noise_is_rate_limited() -> None:
    filt = telemetry._RateLimitFilter(interval=60)

    def rec(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, (), None)

    exporter = "opentelemetry.exporter.otlp.proto.http"
    assert filt.filter(rec(exporter, "Failed to export batch"))
    assert not filt.filter(rec(exporter, "Failed to export batch"))
    assert filt.filter(rec(exporter, "another message"))
    assert all(filt.filter(rec("slolab.services.tasks", "per request")) for _ in range(3))


def test_trace_exemplar_only_for_sampled_spans() -> None:
    assert telemetry.trace_exemplar() is None
    provider = telemetry.TracerProvider()
    with provider.get_tracer("t").start_as_current_span("op") as span:
        ex = telemetry.trace_exemplar()
    assert ex == {"trace_id": format(span.get_span_context().trace_id, "032x")}


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


APP = """
    import time
    from flask import Flask
    from slolab import telemetry
    telemetry.configure_logging("demo")
    app = Flask("demo")
    telemetry.instrument_flask(app)
    app.get("/hi")(lambda: "hi")
    telemetry.setup_tracing("demo")
    client = app.test_client()
    t0 = time.monotonic()
    for _ in range(50):
        assert client.get("/hi").status_code == 200
    print("elapsed", time.monotonic() - t0)
    telemetry.shutdown_tracing()
"""


def _exported_spans(code: str, expected: int, settle: float = 0.0) -> list[dict]:
    """Run ``code`` exporting to a local OTLP sink; the spans it got (``expected`` awaited,
    then ``settle`` seconds more for any extra ones)."""
    with OTLPSink() as sink:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "SLOLAB_TRACE_KEEP_RATIO": "1",  # every trace, fast ones included
        }
        proc = _run(code, env)
        assert proc.returncode == 0, proc.stderr
        deadline = time.monotonic() + 10
        while len(sink.snapshot()) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(settle)
        return sink.snapshot()


def test_spans_are_exported_over_otlp_http() -> None:
    spans = _exported_spans(APP, 50)
    assert len(spans) == 50
    assert {s["service"] for s in spans} == {"demo"}
    assert all(s["name"] == "GET /hi" for s in spans)


def test_unreachable_collector_is_quiet_and_harmless(unused_tcp_port: int) -> None:
    proc = _run(
        APP,
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{unused_tcp_port}",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "5",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
        },
    )
    assert proc.returncode == 0, proc.stderr
    noisy = [line for line in proc.stderr.splitlines() if "opentelemetry" in line]
    # Ten failed batches, yet at most one line per distinct exporter message.
    assert len(noisy) <= 3, proc.stderr


def test_sdk_disabled_means_no_provider(monkeypatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert telemetry.setup_tracing("x") is None


def test_instrumentation_switch(monkeypatch) -> None:
    from flask import Flask

    monkeypatch.delenv("SLOLAB_INSTRUMENTATION", raising=False)
    assert telemetry.instrumentation_enabled()
    monkeypatch.setenv("SLOLAB_INSTRUMENTATION", "bogus")
    try:
        telemetry.instrumentation_enabled()
    except ValueError as exc:
        assert "SLOLAB_INSTRUMENTATION" in str(exc)
    else:
        raise AssertionError("an unknown value must be refused")

    monkeypatch.setenv("SLOLAB_INSTRUMENTATION", "off")
    assert not telemetry.instrumentation_enabled()
    assert telemetry.setup_tracing("x") is None
    app = Flask("off")
    telemetry.instrument_flask(app)
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    assert "wsgi_app" not in vars(app)  # Flask's own, not wrapped

    monkeypatch.setenv("SLOLAB_INSTRUMENTATION", "on")
    telemetry.instrument_flask(app)
    assert isinstance(app.wsgi_app, WsgiTracing)  # the same call instruments when on

    monkeypatch.setenv("SLOLAB_TRACING", "official")  # the benchmark's anchor
    official = Flask("official")
    telemetry.instrument_flask(official)
    assert official._is_instrumented_by_opentelemetry
    monkeypatch.setenv("SLOLAB_TRACING", "bogus")
    with pytest.raises(ValueError, match="SLOLAB_TRACING"):
        telemetry.instrument_flask(Flask("bogus"))


FASTAPI_APP = """
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from slolab import telemetry
    app = FastAPI(**telemetry.fastapi_options())
    telemetry.instrument_fastapi(app)
    app.get("/hi")(lambda: {"hi": 1})
    telemetry.setup_tracing("demo")
    with TestClient(app) as client:
        for _ in range(5):
            assert client.get("/hi").status_code == 200
    telemetry.shutdown_tracing()
"""


def test_fastapi_request_is_one_span() -> None:
    spans = _exported_spans(FASTAPI_APP, 5, settle=0.3)
    # No "http receive"/"http send" children: one server span per request.
    assert [s["name"] for s in spans] == ["GET /hi"] * 5, spans


def test_httpx_request_lines_are_not_logged_per_request() -> None:
    telemetry.configure_logging("quiet-test")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)
