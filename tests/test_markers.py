"""Slow tests are marked where they are defined, never by a list of paths.

A list of file names in a conftest.py loses its mark when a file is renamed or
moved, and nothing notices: the renamed servers' tests then run in `make check`.
A mark in the module travels with it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).parent
# What a test module uses when it starts real services, Prometheus, an OTLP sink or
# a fuzzer: such a module marks itself (or each such test) slow. A whole lab entered
# in the module counts too (tests/e2e/test_gameday.py ran in `make check` without).
SLOW_HARNESSES = re.compile(
    r"^from tests\.(reliability\.services|otlp_sink|e2e\.)|backfilled_prometheus|"
    r"^import schemathesis|\bwith Lab\(",
    re.MULTILINE,
)


def _marker_calls(path: Path) -> list[int]:
    """Lines where ``path`` adds a marker to collected items."""
    tree = ast.parse(path.read_text(), str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_marker"
    ]


def test_no_conftest_marks_tests_by_their_path() -> None:
    found = {str(p.relative_to(TESTS)): _marker_calls(p) for p in TESTS.rglob("conftest.py")}
    assert {p: lines for p, lines in found.items() if lines} == {}


def test_the_check_finds_a_conftest_that_marks(tmp_path: Path) -> None:
    conftest = tmp_path / "conftest.py"
    conftest.write_text(
        "import pytest\n"
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        if 'reliability/' in str(item.path):\n"
        "            item.add_marker(pytest.mark.slow)\n"
    )
    assert _marker_calls(conftest) == [5]


def _modules_using_slow_harnesses() -> list[Path]:
    return sorted(
        p for p in TESTS.rglob("test_*.py") if SLOW_HARNESSES.search(p.read_text(encoding="utf-8"))
    )


def test_modules_that_start_real_servers_mark_themselves_slow() -> None:
    modules = _modules_using_slow_harnesses()
    assert len(modules) > 10  # the harness names above still match something
    unmarked = [
        str(p.relative_to(TESTS)) for p in modules if "pytest.mark.slow" not in p.read_text()
    ]
    assert unmarked == []


def test_each_spread_test_is_a_test_function_of_its_file() -> None:
    from tests.conftest import SPREAD, xdist_unit

    for name in SPREAD:
        path, _, function = name.partition("::")
        tree = ast.parse((TESTS.parent / path).read_text(), path)
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert function in defined, f"{name}: no such test (renamed? update SPREAD)"
        # A case is a unit of its own; the file's other tests stay one unit.
        assert xdist_unit(f"{name}[a-b]") == f"{name}[a-b]"
        assert xdist_unit(f"{path}::test_other[{function}]") == path
