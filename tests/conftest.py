from pathlib import Path

import pytest

from slolab.lab.procs import free_port

# What `make check` (the inner loop: `-m "not slow"`) leaves to `make test`: tests
# that start real servers, Prometheus or Locust, fuzz, or run promtool suites.
# Paths relative to tests/; a folder covers everything below it.
SLOW = (
    "e2e/",
    "reliability/",
    "services/tasks/test_server.py",
    "services/predictor/test_retrain_memory.py",
    "slo/test_agreement.py",
    "slo/test_incidents.py",
    "slo/test_simulate.py",
    "scenario/test_predict.py",
    "scenario/test_run.py",
    "lab/test_history.py",
    "stack/test_container_commands.py",
    "stack/test_native_prometheus.py",
    "test_trace_export.py",
    "services/tasks/test_openapi_fuzz.py",
    "services/predictor/test_uvicorn.py",
    "services/predictor/test_openapi_fuzz.py",
    "stack/test_loadgen.py",
    "test_trace_across_services.py",
    "test_trace_keep.py",
    "test_telemetry.py",
    "slo/test_rules.py::test_promtool_unit_tests",
    "kubernetes/test_multi_replica.py",
    "kubernetes/test_alertmanager_routes.py",
    "scenario/test_capacity.py::test_live_against_tasks_and_prometheus",
)
_TESTS = Path(__file__).parent


@pytest.fixture
def unused_tcp_port() -> int:
    return free_port()


def _is_slow(item: pytest.Item) -> bool:
    rel = item.path.relative_to(_TESTS).as_posix()
    where = f"{rel}::{item.originalname}" if hasattr(item, "originalname") else rel
    return any(where == s or where.startswith(s) for s in SLOW)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the slow tests; give every schemathesis case a node id of its own.

    schemathesis 4 names each operation's item ``test[METHOD /path]`` but leaves
    the function's bare node id on all of them: one id for many tests, so a
    single case cannot be selected and pytest-xdist cannot tell them apart.
    """
    for item in items:
        if _is_slow(item):
            item.add_marker(pytest.mark.slow)
        params = item.name.partition("[")[2].removesuffix("]")
        node_id = getattr(item, "_id", None)  # pytest >= 9 keeps a structured NodeId
        if params and node_id is not None and node_id.params is None:
            item._id = node_id.with_params(params)
