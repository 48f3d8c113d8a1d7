"""Per-operation cost of the SQLite store's file-identity checks, in process.

    .venv/bin/python -m bench.sqlite_identity                    # about 15 s
    .venv/bin/python -m bench.sqlite_identity --ops 400 --requests 200 --rounds 41

Three stores on files of their own, same interpreter, same data: the anchor is
``services/tasks/sqlite_store.py`` as of ``--anchor-ref`` (before the checks: one
stat before each operation, autocommit writes), loaded from ``git show``; "no checks"
is this checkout's store with its identity check made a no-op (what the explicit
transaction costs alone); "now" is this checkout's store. Per round each runs
``--ops`` times a create then a get of that task (a request's store work), in turns
(each store first in turn); then the same three behind the whole tasks app (Flask
test client, no predictor: the degraded create), ``--requests`` times a POST
/api/tasks and a GET of it. Each figure is the median over rounds of µs per pair,
with its ratio to the anchor within the run.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from slolab.services.tasks.sqlite_store import SqliteStore
from slolab.services.tasks.store import NewTask

REPO = Path(__file__).resolve().parents[1]
# The commit before the file was pinned and checked around each operation.
DEFAULT_ANCHOR = "33b3c70"
NEW = NewTask(title="benchmark task", due_in_days=1, estimated_hours=2)


def anchor_module(ref: str, into: Path) -> ModuleType:
    """The store module as of git ``ref``, imported under a name of its own."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{ref}:services/tasks/sqlite_store.py"],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    path = into / "anchor_sqlite_store.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("anchor_sqlite_store", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class UncheckedStore(SqliteStore):
    """This checkout's store without the identity check (the benchmark only)."""

    def _check_identity(self) -> None:
        return None


def one_round(store: Any, ops: int) -> float:
    """µs per create + get."""
    started = time.perf_counter()
    for _ in range(ops):
        task = store.create(NEW)
        store.get(task.id)
    return (time.perf_counter() - started) / ops * 1e6


def one_request_round(client: Any, ops: int) -> float:
    """µs per POST /api/tasks + GET of that task through the whole Flask app."""
    started = time.perf_counter()
    for _ in range(ops):
        task_id = client.post("/api/tasks", json={"title": NEW.title}).get_json()["id"]
        client.get(f"/api/tasks/{task_id}")
    return (time.perf_counter() - started) / ops * 1e6


def measure(stores: dict[str, Any], run: Any, ops: int, rounds: int) -> dict[str, list[float]]:
    for target in stores.values():
        run(target, 20)  # warm: connection, tables, page cache
    times: dict[str, list[float]] = {name: [] for name in stores}
    names = list(stores)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # each first in turn
            times[name].append(run(stores[name], ops))
    return times


def table(title: str, times: dict[str, list[float]]) -> None:
    base = statistics.median(next(iter(times.values())))
    print(f"\n{title}\n| store | µs | ratio to the anchor |\n|---|---|---|")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"| {name} | {med:.1f} | {med / base:.3f} |")


def apps(stores: dict[str, Any]) -> dict[str, Any]:
    """A test client of the tasks app per store (no predictor: the degraded create)."""
    from slolab.lab.procs import free_port
    from slolab.services.tasks.app import create_app
    from slolab.services.tasks.config import Settings

    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    logging.disable(logging.WARNING)  # the degraded create's warning, on every request
    clients = {}
    for name, store in stores.items():
        settings = Settings(db_path=store.path, predictor_url=f"http://127.0.0.1:{free_port()}")
        clients[name] = create_app(settings, store=store).test_client()
    return clients


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=200, help="create+get per store per round")
    parser.add_argument("--requests", type=int, default=100, help="POST+GET per app per round")
    # Many short rounds, each store first in turn: the shared machine's load drifts.
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--anchor-ref", default=DEFAULT_ANCHOR)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-identity-") as tmp:
        folder = Path(tmp)
        anchor = anchor_module(args.anchor_ref, folder)
        stores: dict[str, Any] = {
            f"anchor ({args.anchor_ref})": anchor.SqliteStore(folder / "anchor.sqlite3"),
            "no checks": UncheckedStore(folder / "unchecked.sqlite3"),
            "now": SqliteStore(folder / "now.sqlite3"),
        }
        store_times = measure(stores, one_round, args.ops, args.rounds)
        request_times = measure(apps(stores), one_request_round, args.requests, args.rounds)
        for store in stores.values():
            store.close()
    print(f"median of {args.rounds} rounds")
    table(f"store alone: µs per create + get ({args.ops} per round)", store_times)
    table(f"whole app: µs per POST + GET ({args.requests} per round)", request_times)
    return 0


if __name__ == "__main__":
    sys.exit(main())
