"""The `slolab` front end: readable fault times, the SLO file found from any folder, and
only the chosen command's modules imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from slolab import cli
from slolab.lab.config import repo_root


def test_fault_show_prints_expires_at_as_iso_8601(monkeypatch, capsys) -> None:
    monkeypatch.setenv("SLOLAB_ADMIN_TOKEN", "t")
    answer = {"faults": {"error_rate": 1.0}, "expires_at": 1795000000.25}
    monkeypatch.setattr(httpx, "get", lambda *a, **k: httpx.Response(200, json=answer))
    assert cli.main(["fault", "show", "tasks"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["expires_at"] == "2026-11-18T11:06:40Z"
    assert shown["faults"] == {"error_rate": 1.0}


def test_fault_show_keeps_a_null_expiry(monkeypatch, capsys) -> None:
    monkeypatch.setenv("SLOLAB_ADMIN_TOKEN", "t")
    answer = {"faults": {}, "expires_at": None}
    monkeypatch.setattr(httpx, "get", lambda *a, **k: httpx.Response(200, json=answer))
    assert cli.main(["fault", "show", "predictor"]) == 0
    assert json.loads(capsys.readouterr().out)["expires_at"] is None


def test_slo_file_is_found_from_a_subfolder(monkeypatch, capsys) -> None:
    monkeypatch.delenv("SLOLAB_SLO_FILE", raising=False)
    monkeypatch.chdir(repo_root() / "docs")
    assert cli.main(["slo", "validate"]) == 0
    assert str(repo_root() / "slos.yaml") in capsys.readouterr().out


def test_slo_file_from_the_environment_anywhere(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLOLAB_SLO_FILE", str(repo_root() / "slos.yaml"))
    assert cli.main(["slo", "list", "--format", "json"]) == 0
    assert "tasks-availability" in capsys.readouterr().out


def test_no_slo_file_anywhere_says_where_it_looked(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLOLAB_SLO_FILE", raising=False)
    assert cli.main(["slo", "validate"]) == 2
    err = capsys.readouterr().err
    assert "no slos.yaml in" in err and "SLOLAB_SLO_FILE" in err


@pytest.mark.parametrize("command", [["dashboard", "--help"]])
def test_dashboard_is_a_command(command, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(command)
    assert stop.value.code == 0
    assert "JAEGER_URL" in capsys.readouterr().out


def test_lab_hints_name_a_slolab_that_runs_from_a_fresh_shell(tmp_path: Path) -> None:
    import shlex
    import subprocess

    from slolab.lab.cli import slolab_command

    argv = [*shlex.split(slolab_command()), "--help"]
    # No venv on PATH, another folder: what a second terminal looks like.
    done = subprocess.run(argv, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "dashboard" in done.stdout


# What each long-running single-purpose command must not load: the SLO toolkit, the
# lab's runner (rich), the dashboards (grafana SDK), pydantic, the HTTP client.
HEAVY = ("slolab.slo", "slolab.lab.runner", "slolab.dashboards", "slolab.faults",
         "pydantic", "rich", "httpx", "grafana_foundation_sdk")  # fmt: skip


def _imported_by(argv: list[str], then: str = "") -> list[str]:
    """The HEAVY modules a fresh interpreter holds after ``slolab ARGV`` (and ``then``)."""
    code = (
        "import json, sys\n"
        "from slolab.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"{then}\n"
        f"loaded = [h for h in {HEAVY!r} if any(m.split('.')[:h.count('.') + 1] == h.split('.')"
        " for m in sys.modules)]\n"
        "print(json.dumps(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("command", ["alert-receiver", "serve"])
def test_single_purpose_commands_load_only_what_they_need(command: str) -> None:
    assert _imported_by([command, "--help"]) == []


def test_the_alert_receivers_code_path_loads_no_toolkit() -> None:
    """What ``slolab alert-receiver`` imports to serve (its parser, then the webhook)."""
    assert _imported_by(["alert-receiver", "--help"], "import slolab.lab.webhook") == []


def test_slo_commands_still_load_the_toolkit() -> None:
    """The check above can fail: a command that needs the toolkit shows it loaded."""
    assert "slolab.slo" in _imported_by(["slo", "--help"])


def test_help_lists_every_command_once(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    # the usage paragraph (argparse wraps it when the command list is long)
    listed = " ".join(capsys.readouterr().out.split("\n\n")[0].split())
    every = [name for names, _ in cli.COMMANDS for name in names]
    assert listed.endswith("{" + ",".join(every) + "} ...")
    # Each group adds exactly the names the table says (a parser for one command only).
    for names, _ in cli.COMMANDS:
        for name in names:
            sub = cli.build_parser([name])._subparsers._group_actions[0]  # type: ignore[union-attr]
            assert list(sub.choices) == list(names)
