"""The one Prometheus launcher: its command line, and a server that is always stopped."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from slolab.lab.procs import NotReadyError
from slolab.lab.prometheus import PrometheusServer, prometheus_argv


def test_argv_names_config_storage_retention_address_and_flags() -> None:
    argv = prometheus_argv(
        "/usr/bin/prometheus", Path("/c/p.yml"), Path("/d"), "127.0.0.1:9999",
        retention="35d", flags=("--web.enable-lifecycle",),
    )  # fmt: skip
    assert argv == [
        "/usr/bin/prometheus",
        "--config.file=/c/p.yml",
        "--storage.tsdb.path=/d",
        "--storage.tsdb.retention.time=35d",
        "--web.listen-address=127.0.0.1:9999",
        "--web.enable-lifecycle",
    ]
    assert "--storage.tsdb.retention.time" not in " ".join(
        prometheus_argv("p", Path("c"), Path("d"), "h:1")
    )


def test_a_server_that_never_gets_ready_is_stopped(tmp_path: Path, monkeypatch) -> None:
    # A stand-in binary that runs but never answers /-/ready.
    fake = tmp_path / "prometheus"
    fake.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SLOLAB_READY_TIMEOUT", "1")
    server = PrometheusServer(
        tmp_path / "p.yml", tmp_path / "d", tmp_path / "log", binary=str(fake)
    )
    with pytest.raises(NotReadyError):
        server.start()
    assert server.proc is None
