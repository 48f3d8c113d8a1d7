import os
import subprocess
import sys

from prometheus_client import CollectorRegistry, generate_latest

from slolab.procmetrics import ProcessTreeCollector, tree_pids, tree_usage


def test_tree_includes_children_and_sums_their_memory() -> None:
    # A child holding ~64 MiB makes the tree's RSS grow by about that much.
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; b=bytearray(64<<20); print(1,flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"1"
        assert child.pid in tree_pids(os.getpid())
        _, rss_with, count = tree_usage(os.getpid())
        _, rss_self, _ = tree_usage(child.pid)
        assert count >= 2
        assert rss_self > 60 << 20
        assert rss_with > rss_self
    finally:
        child.kill()
        child.wait()
    assert child.pid not in tree_pids(os.getpid())


def test_collector_exposes_standard_names() -> None:
    registry = CollectorRegistry()
    registry.register(ProcessTreeCollector(os.getpid))
    text = generate_latest(registry).decode()
    assert "process_cpu_seconds_total " in text
    assert "process_resident_memory_bytes " in text
    rss = registry.get_sample_value("process_resident_memory_bytes")
    assert rss is not None and rss > 10 << 20
    cpu = registry.get_sample_value("process_cpu_seconds_total")
    assert cpu is not None and cpu > 0
