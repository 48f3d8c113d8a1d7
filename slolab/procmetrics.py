"""CPU and memory of a whole pre-fork server: the master and all its workers.

prometheus_client's multiprocess mode drops the per-process ``process_*``
metrics (each worker would report only itself). Dashboards and the soak test
need the service's total, so this collector sums ``/proc`` over the process
tree rooted at the server's master. Linux only; elsewhere it yields nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

__all__ = ["ProcessTreeCollector", "forget_dead_workers", "tree_pids", "tree_usage"]

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def tree_pids(root: int) -> list[int]:
    """Return ``root`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def tree_usage(root: int) -> tuple[float, int, int]:
    """Return (cpu seconds, resident bytes, process count) summed over the tree."""
    cpu, rss, count = 0.0, 0, 0
    for pid in tree_pids(root):
        fields = _stat_fields(pid)
        if fields is None:  # exited meanwhile
            continue
        # Fields (from man 5 proc, counting from state = 0): utime 11, stime 12, rss 21.
        cpu += (int(fields[11]) + int(fields[12])) / _TICKS
        rss += int(fields[21]) * _PAGE
        count += 1
    return cpu, rss, count


class ProcessTreeCollector:
    """Expose ``process_cpu_seconds_total`` and ``process_resident_memory_bytes`` of a tree."""

    def __init__(self, root_pid: Callable[[], int]) -> None:
        self._root_pid = root_pid

    def collect(self) -> Iterator[Metric]:
        if not _PROC.is_dir():
            return
        cpu, rss, count = tree_usage(self._root_pid())
        c = CounterMetricFamily(
            "process_cpu_seconds", "CPU seconds of the server's master and live workers."
        )
        c.add_metric([], cpu)
        yield c
        yield GaugeMetricFamily(
            "process_resident_memory_bytes",
            "Resident memory of the server's master and live workers.",
            value=rss,
        )
        yield GaugeMetricFamily(
            "slolab_server_processes", "Processes in the server's tree.", value=count
        )


_LIVE_FILE = re.compile(r"^gauge_live\w*_(\d+)\.db$")


def forget_dead_workers(mp_dir: str | Path, root: int) -> list[int]:
    """Drop the live-gauge files of workers no longer in ``root``'s tree; return their pids.

    prometheus_client's ``mark_process_dead``, done at scrape time by whoever serves
    ``/metrics`` instead of in a server hook: it works for any pre-fork server
    (granian has no child-exit hook) and costs requests nothing. Counter and
    histogram files stay, so totals never go back.
    """
    from prometheus_client import multiprocess

    directory = Path(mp_dir)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    pids = {int(m.group(1)) for n in names if (m := _LIVE_FILE.match(n))}
    if not pids:
        return []
    dead = sorted(pids - set(tree_pids(root))) if _PROC.is_dir() else []
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(directory))
    return dead
