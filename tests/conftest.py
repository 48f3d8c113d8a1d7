import pytest

from slolab.lab.procs import free_port

# Slow tests (real servers, Prometheus, Locust, fuzzing, promtool suites: what
# `make check` leaves to `make test`) carry `pytest.mark.slow` in their own module,
# where they are defined: renaming a file keeps its mark (tests/test_markers.py).


@pytest.fixture
def unused_tcp_port() -> int:
    return free_port()


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
