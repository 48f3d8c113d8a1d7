"""What `plan`/`outputs` generate depends on their arguments only, never on what ran before."""

from __future__ import annotations

from pathlib import Path

import pytest

import slolab.slo as slo_pkg
from slolab import demo
from slolab.cli import main
from slolab.dashboards import OUTPUT as DASHBOARDS
from slolab.slo.generate import GenerateOptions, Output, outputs, plan
from slolab.slo.generate.kubernetes import GENERATED_DIR

ROOT = Path(__file__).resolve().parents[2]
SLOS = ROOT / "slos.yaml"


def _names(found: list[Output]) -> list[str]:
    return [o.name for o in found]


def test_toolkit_outputs_the_same_before_and_after_the_cli_ran(tmp_path: Path) -> None:
    """The `slolab` command once registered the demo's dashboards for the whole process."""
    slos = slo_pkg.load(SLOS)
    names, files = _names(outputs()), plan(slos, ROOT).files
    assert main(["slo", "generate", "--file", str(SLOS), "--root", str(tmp_path)]) == 0
    assert _names(outputs()) == names
    assert plan(slos, ROOT).files == files
    assert DASHBOARDS.name not in names  # the toolkit alone knows nothing of the demo


def test_the_registry_passed_in_decides(tmp_path: Path) -> None:
    """With the demo's registry the dashboards come, and the Kubernetes output wraps them."""
    slos = slo_pkg.load(SLOS)
    registry = demo.registry()
    assert _names(outputs(registry))[-1] == DASHBOARDS.name
    with_demo, alone = plan(slos, ROOT, registry=registry).files, plan(slos, ROOT).files
    prefix = f"{GENERATED_DIR}/dashboard-"
    assert any(rel.startswith(prefix) for rel in with_demo)
    assert not any(rel.startswith(prefix) for rel in alone)
    assert set(alone) < set(with_demo)
    # The CLI writes what the demo's registry plans: the same files, byte for byte.
    assert main(["slo", "generate", "--file", str(SLOS), "--root", str(tmp_path)]) == 0
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert written == set(with_demo)
    assert all((tmp_path / rel).read_text(encoding="utf-8") == with_demo[rel] for rel in written)


def test_registry_defaults_and_overrides() -> None:
    registry = slo_pkg.generate.Registry(defaults={"webhook_url": "http://hooks.test/a"})
    assert registry.options().webhook_url == "http://hooks.test/a"
    assert registry.options(webhook_url="http://other.test/b").webhook_url == "http://other.test/b"
    assert slo_pkg.generate.Registry().options() == GenerateOptions()


def test_registry_errors_name_the_problem() -> None:
    with pytest.raises(TypeError, match="unknown generate options: webhook"):
        slo_pkg.generate.Registry(defaults={"webhook": "http://hooks.test/"})
    twice = slo_pkg.generate.Registry(extra=(DASHBOARDS, DASHBOARDS))
    with pytest.raises(ValueError, match=f"two outputs are named {DASHBOARDS.name}"):
        outputs(twice)
    clash = slo_pkg.generate.Registry(extra=(Output("alertmanager", lambda s, o: {}),))
    with pytest.raises(ValueError, match="two outputs are named alertmanager"):
        plan([], ROOT, registry=clash)
