import pytest

from slolab.lab import binaries


def _which(present: set[str]):
    return lambda name: f"/usr/bin/{name}" if name in present else None


def test_debian_names_first_then_upstream_names():
    assert binaries.find("alertmanager", _which({"prometheus-alertmanager"})) == (
        "/usr/bin/prometheus-alertmanager"
    )
    assert binaries.find("blackbox", _which({"blackbox_exporter"})) == "/usr/bin/blackbox_exporter"
    assert binaries.find("prometheus", _which(set())) is None


def test_missing_lists_packages_once():
    absent = binaries.missing(_which({"prometheus-alertmanager", "prometheus-blackbox-exporter"}))
    assert [b.key for b in absent] == ["prometheus", "promtool"]
    assert {b.package for b in absent} == {"prometheus"}


def test_apt_command():
    assert binaries.apt_command(["b", "a", "a"], sudo=True) == [
        ["sudo", "apt-get", "update", "-qq"],
        ["sudo", "apt-get", "install", "-y", "--no-install-recommends", "a", "b"],
    ]


def test_without_permission_to_install_the_exact_command_is_given(monkeypatch):
    monkeypatch.setattr(binaries.shutil, "which", _which({"apt-get"}))
    monkeypatch.setattr(binaries.os, "geteuid", lambda: 1000)
    with pytest.raises(binaries.InstallError) as err:
        binaries.ensure(install=True)
    msg = str(err.value)
    assert "missing prometheus, promtool, prometheus-alertmanager" in msg
    assert (
        "sudo apt-get update -qq && sudo apt-get install -y --no-install-recommends "
        "prometheus prometheus-alertmanager prometheus-blackbox-exporter"
    ) in msg


def test_no_install_flag_never_runs_apt(monkeypatch):
    monkeypatch.setattr(binaries.shutil, "which", _which({"apt-get", "sudo"}))
    monkeypatch.setattr(binaries.os, "geteuid", lambda: 0)
    ran = []
    monkeypatch.setattr(binaries.subprocess, "run", lambda *a, **k: ran.append(a))
    with pytest.raises(binaries.InstallError, match="apt-get install"):
        binaries.ensure(install=False)
    assert ran == []
