"""The package layout docs/architecture.md states, held by tests.

- Every package in the tree is installed: the services are mapped from
  services/ into ``slolab.services`` and setuptools cannot find mapped
  packages, so pyproject.toml lists them all; a package missing there still
  imports from a checkout but not from the wheel (the Docker image).
- docs/architecture.md's module map names every module, and only those.
- The generic SLO toolkit imports neither the demo's services nor its facts;
  no service imports the other (they talk over HTTP).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _packages_in(folder: Path, name: str) -> set[str]:
    return {
        ".".join((name, *init.parent.relative_to(folder).parts))
        for init in folder.rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def _source_of(package: str) -> Path:
    """The folder a package is installed from, through pyproject's package-dir."""
    mapping = SETUPTOOLS.get("package-dir", {})
    parts = package.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in mapping:
            return ROOT / mapping[prefix] / Path(*parts[i:])
    return ROOT / Path(*parts)


# Folders of data files only (no __init__.py), listed as packages so that their files
# are package data the way setuptools expects (it warns of a data folder not listed).
DATA_PACKAGES = {
    p
    for p in SETUPTOOLS["packages"]
    if p in SETUPTOOLS.get("package-data", {}) and not (_source_of(p) / "__init__.py").exists()
}


def test_every_package_of_the_tree_is_installed() -> None:
    listed = set(SETUPTOOLS["packages"]) - DATA_PACKAGES
    in_tree = _packages_in(ROOT / "slolab", "slolab")
    for mapped, folder in SETUPTOOLS["package-dir"].items():
        in_tree -= {p for p in in_tree if p == mapped or p.startswith(f"{mapped}.")}
        in_tree |= _packages_in(ROOT / folder, mapped)
    assert listed == in_tree


def test_every_listed_package_exists_where_it_is_mapped() -> None:
    missing = [p for p in SETUPTOOLS["packages"] if not (_source_of(p) / "__init__.py").is_file()]
    assert sorted(missing) == sorted(DATA_PACKAGES)
    assert all(_source_of(p).is_dir() for p in DATA_PACKAGES)


@pytest.mark.slow  # a real wheel build (about 10 s)
@pytest.mark.skipif(shutil.which("uv") is None, reason="uv not installed")
def test_the_wheel_builds_without_packaging_warnings(tmp_path: Path) -> None:
    # pip >= 24 shows the build backend's warnings: a data folder setuptools does not
    # know as a package printed 40 lines in the middle of a newcomer's `make lab`.
    proc = subprocess.run(
        ["uv", "build", "--wheel", "--out-dir", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-2000:]
    assert "absent from the `packages` configuration" not in output
    assert "_Warning" not in output, output[-2000:]
    with zipfile.ZipFile(next(tmp_path.glob("*.whl"))) as wheel:
        shipped = set(wheel.namelist())
    for package, patterns in SETUPTOOLS["package-data"].items():
        folder = _source_of(package)
        for pattern in patterns:
            for f in folder.glob(pattern):
                assert "/".join((*package.split("."), f.name)) in shipped, f


def test_package_data_lies_where_it_is_mapped() -> None:
    for package, patterns in SETUPTOOLS["package-data"].items():
        for pattern in patterns:
            assert list(_source_of(package).glob(pattern)), f"{package}: {pattern}"


def _imports(folder: Path) -> dict[str, set[str]]:
    """Module imported -> files that import it, for every .py file under ``folder``."""
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            for name in names:
                found.setdefault(name, set()).add(str(path.relative_to(folder)))
    return found


def _offenders(folder: Path, forbidden: tuple[str, ...]) -> dict[str, set[str]]:
    return {
        name: files
        for name, files in _imports(folder).items()
        if any(name == f or name.startswith(f"{f}.") for f in forbidden)
    }


def test_the_slo_toolkit_knows_nothing_of_the_demo() -> None:
    forbidden = ("slolab.services", "slolab.contract", "slolab.demo", "slolab.lab")
    assert _offenders(ROOT / "slolab" / "slo", forbidden) == {}


@pytest.mark.parametrize(("service", "other"), [("tasks", "predictor"), ("predictor", "tasks")])
def test_no_service_imports_the_other(service: str, other: str) -> None:
    assert _offenders(ROOT / "services" / service, (f"slolab.services.{other}",)) == {}


# The toolkit's layers (docs/architecture.md): what each layer may not import.
LAYERS = {
    # plain data and rules: no PromQL writer, no presentation, no I/O client
    "slolab/slo/model.py": ("slolab.slo.promql", "slolab.slo.views", "slolab.slo.query", "rich"),
    "slolab/slo/policy.py": ("slolab.slo.views", "slolab.slo.query", "rich"),
    "slolab/slo/budget.py": ("slolab.slo.views", "slolab.slo.query", "rich"),
    # PromQL is written from the model alone: no presentation, no Prometheus client
    "slolab/slo/promql.py": ("slolab.slo.views", "slolab.slo.query", "rich"),
    # presentation: text and records, no terminal library
    "slolab/slo/views.py": ("rich",),
    # figures: the simulation runs; report/simulation.py shows it
    "slolab/slo/simulate.py": ("slolab.slo.views", "slolab.slo.report", "rich"),
    "slolab/slo/synthetic.py": ("slolab.slo.views", "slolab.slo.report", "rich"),
}


def _imports_of(path: Path) -> set[str]:
    return {n for n, files in _imports(path.parent).items() if path.name in files}


@pytest.mark.parametrize("module", sorted(LAYERS))
def test_a_layer_imports_nothing_above_it(module: str) -> None:
    path = ROOT / module
    forbidden = LAYERS[module]
    found = {
        n for n in _imports_of(path) if any(n == f or n.startswith(f"{f}.") for f in forbidden)
    }
    assert found == set()


def test_nothing_below_the_cli_imports_rich() -> None:
    # The gate, the web app and the Python API run without a terminal library.
    found = _offenders(ROOT / "slolab" / "slo", ("rich",)) | _offenders(
        ROOT / "slolab" / "web", ("rich",)
    )
    below_cli = {
        name: {f for f in files if not f.startswith("cli/")} for name, files in found.items()
    }
    assert {n: f for n, f in below_cli.items() if f} == {}


# A function PromQL applies to a range, at the end of a string or before a name or
# selector: what builds an expression (not prose such as "sum(rate(...[w]))").
PROMQL_CALL = re.compile(r"\b(?:rate|irate|increase)\((?=$|[\w{(])|\bALERTS\{")


def _promql_written(path: Path, root: Path = ROOT) -> list[str]:
    """Strings (f-string parts too) of ``path`` that build PromQL; docstrings left out."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    hits = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and PROMQL_CALL.search(node.value)
    ]
    return [
        f"{path.relative_to(root)}:{n.lineno}: {n.value!r}"
        for n in sorted(hits, key=lambda n: n.lineno)
    ]


def test_only_promql_writes_rates_and_alert_selectors() -> None:
    """slolab/slo/promql.py is the one writer of PromQL (docs/architecture.md)."""
    found = [
        hit
        for top in ("slolab", "bench")
        for path in sorted((ROOT / top).rglob("*.py"))
        if path != ROOT / "slolab" / "slo" / "promql.py"
        for hit in _promql_written(path)
    ]
    assert found == []


def test_the_promql_check_finds_a_rate(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        '"""sum(rate(x[5m])) in a docstring is prose."""\n'
        'A = f"sum(rate({S}[5m]))"\n'
        "B = 'see sum(rate(...[w]))'\n"
        "C = 'ALERTS{alertstate=\"firing\"}'\n"
    )
    assert [h.split(": ", 1)[1] for h in _promql_written(tmp_path / "m.py", tmp_path)] == [
        "'sum(rate('",
        "'ALERTS{alertstate=\"firing\"}'",
    ]


def test_the_checks_catch_an_import(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("from slolab.services.tasks import app\nimport slolab.contract")
    found = _offenders(tmp_path, ("slolab.services", "slolab.contract"))
    assert set(found) == {"slolab.services.tasks", "slolab.services.tasks.app", "slolab.contract"}


def test_nothing_imports_the_services_by_their_folder_name() -> None:
    # From the repository root `import services.tasks` would still work (the folder
    # is on sys.path) but load a second copy of the service beside slolab.services.
    found = {}
    for top in ("slolab", "services", "tests", "bench", "loadgen"):
        found |= _offenders(ROOT / top, ("services",))
    assert found == {}


# --- docs/architecture.md's module map -------------------------------------------

MAP_FILE = re.compile(r"^[A-Za-z_][\w.-]*\.(?:py|json|js)$")


def _documented_files() -> set[str]:
    """Every file the map names, with its folder (the folder lines above it, by indent)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("```", 2)[1]
    stack: list[tuple[int, str]] = []
    found: set[str] = set()
    for line in block.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        tokens = line.split()
        if tokens[0].endswith("/") and not (len(tokens) > 1 and tokens[1].endswith("/")):
            stack.append((indent, tokens[0]))
            tokens = tokens[1:]
        folder = "".join(path for _, path in stack)
        found |= {folder + t.strip("`,()") for t in tokens if MAP_FILE.match(t.strip("`,()"))}
    return found


def _modules_in_tree() -> set[str]:
    return {
        str(path.relative_to(ROOT))
        for top in ("slolab", "services")
        for path in (ROOT / top).rglob("*.py")
        if path.name not in {"__init__.py", "__main__.py"} and "__pycache__" not in path.parts
    }


def test_the_architecture_map_names_every_module_and_only_those() -> None:
    documented, present = _documented_files(), _modules_in_tree()
    assert sorted(present - documented) == [], "modules missing from docs/architecture.md's map"
    stale = sorted(f for f in documented - present if f.endswith(".py"))
    assert stale == [], "the map names modules that do not exist"


# --- the installed layout ---------------------------------------------------------


def _install_like_the_wheel(dest: Path) -> None:
    """Lay the packages out as the wheel does (services/ under slolab/), no checkout."""
    data = SETUPTOOLS.get("package-data", {})
    for package in SETUPTOOLS["packages"]:
        source, target = _source_of(package), dest.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        files = [*source.glob("*.py")]
        files += [f for pattern in data.get(package, []) for f in source.glob(pattern)]
        for f in files:
            (target / f.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target / f.relative_to(source))


def test_the_installed_package_finds_its_own_data_files(tmp_path: Path) -> None:
    """The Docker image installs the wheel: no services/ folder beside slolab/ there."""
    site = tmp_path / "site"
    _install_like_the_wheel(site)
    code = (
        "import pathlib, slolab.serve as s\n"
        "argv = s.build_command('tasks', {'TASKS_SERVER': 'granian'})\n"
        "print(argv[argv.index('--log-config') + 1])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    log_config = Path(out.stdout.strip())
    assert log_config.is_file(), log_config
    assert log_config.is_relative_to(site), log_config
