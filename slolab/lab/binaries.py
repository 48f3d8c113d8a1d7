"""Find the Prometheus binaries, or install them from the OS packages."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "BINARIES",
    "Binary",
    "InstallError",
    "apt_command",
    "ensure",
    "find",
    "find_jaeger",
    "missing",
]


class InstallError(RuntimeError):
    """A binary is missing and could not be installed; the message says what to run."""


@dataclass(frozen=True)
class Binary:
    key: str
    names: tuple[str, ...]  # Debian's name first, then upstream tarball names
    package: str  # Debian/Ubuntu package


BINARIES: dict[str, Binary] = {
    b.key: b
    for b in (
        Binary("prometheus", ("prometheus",), "prometheus"),
        Binary("promtool", ("promtool",), "prometheus"),
        Binary(
            "alertmanager", ("prometheus-alertmanager", "alertmanager"), "prometheus-alertmanager"
        ),
        Binary(
            "blackbox",
            ("prometheus-blackbox-exporter", "blackbox_exporter"),
            "prometheus-blackbox-exporter",
        ),
    )
}


def find(key: str, which: Callable[[str], str | None] | None = None) -> str | None:
    """Path of a binary (``LAB_<KEY>_BIN`` overrides the search), or None."""
    which = which or shutil.which
    override = os.environ.get(f"LAB_{key.upper()}_BIN")
    if override:
        return which(override)
    for name in BINARIES[key].names:
        path = which(name)
        if path:
            return path
    return None


def find_jaeger(which: Callable[[str], str | None] | None = None) -> str | None:
    """Path of a Jaeger v2 binary (``JAEGER_BIN``, else ``jaeger`` on PATH), or None.

    Optional, unlike the others: no OS package has it; without it the lab stores
    traces itself (:mod:`slolab.lab.otlp`).
    """
    which = which or shutil.which
    override = os.environ.get("JAEGER_BIN")
    return which(override) if override else which("jaeger")


def missing(which: Callable[[str], str | None] | None = None) -> list[Binary]:
    return [b for b in BINARIES.values() if find(b.key, which) is None]


def apt_command(packages: list[str], *, sudo: bool) -> list[list[str]]:
    prefix = ["sudo"] if sudo else []
    return [
        [*prefix, "apt-get", "update", "-qq"],
        [*prefix, "apt-get", "install", "-y", "--no-install-recommends", *sorted(set(packages))],
    ]


def ensure(*, install: bool = True, echo: Callable[[str], None] = print) -> dict[str, str]:
    """Return ``{key: path}`` of every binary, installing missing ones with apt-get if allowed.

    Installs when running as root, or through sudo when it is available; otherwise
    raises :class:`InstallError` with the exact command to run.
    """
    absent = missing()
    if absent:
        packages = sorted({b.package for b in absent})
        names = ", ".join(b.names[0] for b in absent)
        is_root = os.geteuid() == 0
        can_sudo = shutil.which("sudo") is not None
        have_apt = shutil.which("apt-get") is not None
        cmds = apt_command(packages, sudo=not is_root)
        shown = " && ".join(" ".join(c) for c in apt_command(packages, sudo=not is_root))
        if not (install and have_apt and (is_root or can_sudo)):
            where = "" if have_apt else " (or the same packages with your OS's package manager)"
            raise InstallError(f"missing {names}; install them with:\n  {shown}{where}")
        echo(f"lab: installing {', '.join(packages)} ({names} missing): {shown}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in cmds:
            if subprocess.run(cmd, env=env).returncode != 0:
                raise InstallError(f"`{' '.join(cmd)}` failed; run it yourself:\n  {shown}")
        still = missing()
        if still:
            raise InstallError(
                f"still missing after installing: {', '.join(b.names[0] for b in still)}"
            )
    return {key: find(key) or "" for key in BINARIES}
