"""The shell helpers around Docker tools, run against stand-in binaries on PATH.

- ``make compose`` (``docker/compose-check``) stops with a sentence on docker-compose
  1.x, whose builds need not use BuildKit (the Dockerfile's ``COPY --chmod`` needs it);
- ``deploy/kubernetes/kind-load`` saves one platform and loads the archive, the
  path that works on Docker's containerd image store (kind#3795).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")


def _stand_in(folder: Path, name: str, body: str) -> None:
    """An executable ``name`` that logs its arguments to calls.log, then runs ``body``."""
    path = folder / name
    path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{folder}/calls.log"\n{body}\n')
    path.chmod(0o755)


def _env(folder: Path) -> dict[str, str]:
    # only the stand-ins and the basic tools: no real docker, kind or docker-compose
    basics = folder / "basics"
    basics.mkdir(exist_ok=True)
    for tool in ("sh", "mktemp", "rm", "cat", "make", "grep"):
        if not (basics / tool).exists():
            (basics / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    return {"PATH": f"{folder}:{basics}", "HOME": str(folder), "TMPDIR": str(folder)}


def _calls(folder: Path) -> list[str]:
    log = folder / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def _make_compose(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-s", "-C", str(ROOT), "compose"], env=_env(folder),
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_make_compose_stops_on_compose_v1_with_the_reason(tmp_path):
    _stand_in(tmp_path, "docker", 'case "$1" in compose) echo "unknown command: compose" >&2; '
                                  "exit 1;; esac")  # fmt: skip
    _stand_in(tmp_path, "docker-compose", "exit 0")
    proc = _make_compose(tmp_path)
    assert proc.returncode != 0
    assert "docker-compose 1.x is not supported" in proc.stderr
    assert "COPY --chmod needs BuildKit" in proc.stderr
    # nothing was built or started
    assert [c for c in _calls(tmp_path) if "up" in c.split()] == []


def test_make_compose_stops_without_any_compose(tmp_path):
    _stand_in(tmp_path, "docker", "exit 1")
    proc = _make_compose(tmp_path)
    assert proc.returncode != 0
    assert "Docker Compose v2 not found" in proc.stderr


def test_make_compose_builds_with_compose_v2(tmp_path):
    _stand_in(tmp_path, "docker", "exit 0")
    proc = _make_compose(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _calls(tmp_path)[-1] == "docker compose up -d --build"


KIND_LOAD = ROOT / "deploy" / "kubernetes" / "kind-load"


def _kind_load(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KIND_LOAD), *args], env=_env(folder), capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def _docker_saving(folder: Path, exit_code: int = 0, platform_flag: bool = True) -> None:
    # `docker version --format` prints the engine's platform; `image save --help` lists
    # --platform (docker >= 28) or not; `image save -o FILE` writes FILE
    flags = "  --platform string   Save only the given platform" if platform_flag else ""
    _stand_in(folder, "docker", f"""case "$1 $2 $3" in
  "image save --help") echo "{flags}"; exit 0;;
esac
case "$1" in
  version) echo linux/arm64;;
  image) for a; do [ "$prev" = "-o" ] && echo archive > "$a"; prev=$a; done; exit {exit_code};;
esac""")  # fmt: skip
    _stand_in(folder, "kind", 'for a; do case "$a" in */kind-load.*) cat "$a" >> '
                              f'"{folder}/loaded";; esac; done')  # fmt: skip


def test_kind_load_saves_one_platform_and_loads_the_archive(tmp_path):
    _docker_saving(tmp_path)
    proc = _kind_load(tmp_path, "slolab:0.1.0")
    assert proc.returncode == 0, proc.stderr
    _, version, save, load = _calls(tmp_path)
    assert version.startswith("docker version --format")
    archive = save.split()[-2]
    assert save == f"docker image save --platform linux/arm64 -o {archive} slolab:0.1.0"
    assert load == f"kind load image-archive {archive} --name slolab"
    assert (tmp_path / "loaded").read_text() == "archive\n"  # kind read what docker wrote
    assert not Path(archive).exists()  # and the archive is removed


def test_kind_load_on_a_docker_without_save_platform(tmp_path):
    _docker_saving(tmp_path, platform_flag=False)
    proc = _kind_load(tmp_path, "slolab:0.1.0", "other")
    assert proc.returncode == 0, proc.stderr
    _, save, load = _calls(tmp_path)
    archive = save.split()[-2]
    assert save == f"docker image save -o {archive} slolab:0.1.0"
    assert load == f"kind load image-archive {archive} --name other"


def test_kind_load_names_the_cluster_and_stops_when_the_save_fails(tmp_path):
    _docker_saving(tmp_path, exit_code=1)
    proc = _kind_load(tmp_path, "slolab:0.1.0", "other")
    assert proc.returncode != 0
    assert not [c for c in _calls(tmp_path) if c.startswith("kind ")]
    assert list(tmp_path.glob("kind-load.*")) == []
    usage = _kind_load(tmp_path)
    assert usage.returncode != 0 and "usage: kind-load IMAGE" in usage.stderr


def test_scripts_are_executable():
    for script in (KIND_LOAD, ROOT / "docker" / "compose-check"):
        assert os.access(script, os.X_OK), script
