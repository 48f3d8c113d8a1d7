import sys
from collections.abc import Iterator
from typing import Any

import pytest

from slolab.lab.procs import free_port

# Slow tests (real servers, Prometheus, Locust, fuzzing, promtool suites: what
# `make check` leaves to `make test`) carry `pytest.mark.slow` in their own module,
# where they are defined: renaming a file keeps its mark (tests/test_markers.py).


def _httpx_traced() -> bool:
    """Whether httpx is instrumented process-wide (only after the module was imported)."""
    module = sys.modules.get("opentelemetry.instrumentation.httpx")
    return module is not None and module.HTTPXClientInstrumentor().is_instrumented_by_opentelemetry


def undo_process_tracing() -> None:
    """Take back what ``slolab.telemetry.setup_tracing`` did to this process's clients.

    A test that runs the predictor's lifespan in-process (TestClient, schemathesis'
    ASGI calls) installs the service's tracing in the pytest worker: httpx
    instrumented process-wide, which replaces the ``traceparent`` any later test sends
    with one of its own. Under ``--dist loadfile`` which tests share a worker is
    chance: tests/e2e/test_lab_traces.py then waited for a trace id the lab never saw.
    """
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    from slolab import telemetry

    for instrumentor in (HTTPXClientInstrumentor(), PymongoInstrumentor()):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    # The next setup_tracing instruments again (the global tracer provider stays: the
    # API sets it once per process, and setup_tracing reuses an installed one).
    for name, value in (("_provider", None), ("_provider_pid", None), ("_keeper", None),
                        ("_clients_instrumented", False)):  # fmt: skip
        assert hasattr(telemetry, name), f"slolab.telemetry.{name} is gone: update this guard"
        setattr(telemetry, name, value)


def _process_traced() -> bool:
    """httpx instrumented, or this process's tracing set up (``setup_tracing``: the lean
    mode instruments no httpx, yet a later test in the official mode would reuse it)."""
    telemetry = sys.modules.get("slolab.telemetry")
    return _httpx_traced() or getattr(telemetry, "_provider", None) is not None


@pytest.fixture(autouse=True)
def _leave_process_tracing_as_found() -> Iterator[None]:
    before = _process_traced()
    yield
    if not before and _process_traced():
        undo_process_tracing()


@pytest.fixture
def unused_tcp_port() -> int:
    return free_port()


# Tests whose cases share no fixture and need no order (one promtool run, one backfill
# each): under xdist each case is a unit of its own, spread over the workers. Every other
# test runs with the rest of its file (`--dist loadfile`: module fixtures, ordered
# checks). On one worker the promtool cases alone took 7 min: the suite's critical path.
# tests/test_markers.py checks that each name is a test function of its file.
SPREAD = (
    "tests/slo/test_rules.py::test_promtool_unit_tests",
    "tests/lab/test_history.py::test_status_after_backfill_matches_the_generated_history",
    "tests/lab/test_history.py::test_backfilled_history_holds_the_alerts_the_simulator_predicts",
)


def xdist_unit(nodeid: str) -> str:
    """The unit pytest-xdist schedules ``nodeid`` in: its file, or itself if SPREAD."""
    return nodeid if nodeid.partition("[")[0] in SPREAD else nodeid.split("::", 1)[0]


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` with the SPREAD tests' cases as units of their own.

    Not ``--dist loadgroup`` with ``xdist_group`` marks: pytest-xdist 3.8 names a
    group by rewriting ``item._nodeid``, which pytest 9 no longer reads (the marks
    are ignored and every unmarked test is a unit of its own).
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FileOrSpread(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_unit(nodeid)

    return FileOrSpread(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every schemathesis case a node id of its own.

    schemathesis 4 names each operation's item ``test[METHOD /path]`` but leaves
    the function's bare node id on all of them: one id for many tests, so a
    single case cannot be selected and pytest-xdist cannot tell them apart.
    """
    for item in items:
        params = item.name.partition("[")[2].removesuffix("]")
        node_id = getattr(item, "_id", None)  # pytest >= 9 keeps a structured NodeId
        if params and node_id is not None and node_id.params is None:
            item._id = node_id.with_params(params)
