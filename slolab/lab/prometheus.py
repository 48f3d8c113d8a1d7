"""The one way slolab starts a Prometheus: the lab, its backfill, the bench and the tests.

:func:`prometheus_argv` is the command line (the lab hands it to its
supervisor); :class:`PrometheusServer` starts it on a free loopback port,
waits for ``/-/ready`` and stops it, as a context manager or by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from slolab.lab.procs import ManagedProcess, free_port, spawn

__all__ = ["PrometheusServer", "prometheus_argv"]


def prometheus_argv(
    binary: str,
    config: Path,
    data: Path,
    address: str,
    *,
    retention: str | None = None,
    flags: Sequence[str] = (),
) -> list[str]:
    """The command line of a Prometheus on ``config``, storing in ``data``, listening on
    ``address`` (host:port); ``retention``: how long it keeps samples (its default: 15d)."""
    argv = [binary, f"--config.file={config}", f"--storage.tsdb.path={data}"]
    if retention is not None:
        argv.append(f"--storage.tsdb.retention.time={retention}")
    return [*argv, f"--web.listen-address={address}", *flags]


class PrometheusServer:
    """A Prometheus of our own on a free port: ``with PrometheusServer(...) as prom: prom.url``."""

    def __init__(
        self,
        config: Path,
        data: Path,
        log: Path,
        *,
        binary: str = "prometheus",
        host: str = "127.0.0.1",
        retention: str | None = None,
        flags: Sequence[str] = (),
        name: str = "prometheus",
    ) -> None:
        self.config, self.data, self.log = config, data, log
        self.binary, self.host, self.retention, self.flags = binary, host, retention, flags
        self.name = name
        self.port = free_port(host)
        self.proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float | None = None) -> Self:
        """Start it and wait until it answers ``/-/ready`` (NotReadyError, stopped, if not)."""
        argv = prometheus_argv(
            self.binary, self.config, self.data, f"{self.host}:{self.port}",
            retention=self.retention, flags=self.flags,
        )  # fmt: skip
        self.proc = spawn(self.name, argv, self.log)
        try:
            self.proc.wait_ready(f"{self.url}/-/ready", timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=timeout)
        self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
