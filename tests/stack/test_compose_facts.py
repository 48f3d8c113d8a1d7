"""docker-compose.yml held to the facts in docs/stack.md ("Memory limits").

Each container's mem_limit is the table's, at least the table's floor; a measured
floor is at least 1.5 x the peak in bench/results/stack-memory.json; the total adds
up; every healthcheck runs a binary the table says the image has (with the reason);
every service waited for has a healthcheck; the pinned constraints cover pyproject.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bench.sandbox import REPO, Image, load_compose

DOC = REPO / "docs" / "stack.md"
MEASURED = REPO / "bench" / "results" / "stack-memory.json"
MARGIN = 1.5


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose({"GRAFANA_ADMIN_PASSWORD": "test-only"})


def _mib(value: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg]?)b?", str(value).lower())
    assert m, f"unreadable memory limit {value!r}"
    return float(m.group(1)) * {"": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024}[m.group(2)]


def limits_table(text: str) -> dict[str, dict[str, str]]:
    """The rows of the first table under "### Memory limits", by container."""
    section = text[text.index("### Memory limits") :]
    rows: dict[str, dict[str, str]] = {}
    header: list[str] = []
    for line in section.splitlines():
        if not line.startswith("|"):
            if header:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not header:
            header = cells
        elif not set(cells[0]) <= set("-: "):
            rows[cells[0].strip("*")] = dict(zip(header, cells, strict=True))
    return rows


@pytest.fixture(scope="module")
def table() -> dict[str, dict[str, str]]:
    return limits_table(DOC.read_text())


def _number(cell: str) -> float | None:
    return float(cell) if re.fullmatch(r"\d+(\.\d+)?", cell) else None


def test_every_container_has_its_row_and_limit(compose, table) -> None:
    services = compose["services"]
    assert set(table) - {"total"} == set(services)
    for name, svc in services.items():
        assert "mem_limit" in svc, f"{name} has no mem_limit"
        assert _mib(svc["mem_limit"]) == _number(table[name]["mem_limit MiB"]), name


def test_limits_are_at_least_their_floor(table) -> None:
    for name, row in table.items():
        floor, limit = _number(row["floor MiB"]), _number(row["mem_limit MiB"])
        if name == "total" or floor is None:
            assert name == "total" or "not measured" in row["floor from"], name
            continue
        assert limit is not None and limit >= floor, f"{name}: {limit} < floor {floor}"


def test_measured_floors_cover_the_measured_peaks(table) -> None:
    peaks = json.loads(MEASURED.read_text())["peaks"]
    measured = {n: r for n, r in table.items() if r["floor from"].startswith("measured")}
    assert {"tasks", "predictor", "alert-receiver"} <= set(measured)
    for name, row in measured.items():
        key = re.sub(r"-\d+$", "", name)  # the workers are measured as one kind
        need = peaks[key]["total_mib"] * MARGIN
        assert float(row["floor MiB"]) >= need - 0.5, f"{name}: floor below {need:.0f} MiB"


def _total_error(compose: dict[str, Any], table: dict[str, dict[str, str]]) -> str | None:
    total = sum(_mib(svc["mem_limit"]) for svc in compose["services"].values())
    stated = _number(table["total"]["mem_limit MiB"])
    return None if stated == total else f"the table says {stated} MiB, the limits add to {total}"


def test_the_total_adds_up(compose, table) -> None:
    assert _total_error(compose, table) is None, _total_error(compose, table)


def test_a_wrong_total_is_caught(compose) -> None:
    """The 1392-vs-1440 MiB mistake this table once had would fail the test above."""
    text = DOC.read_text()
    row = re.search(r"^\| \*\*total\*\* \| (\d+) \|", text, re.M)
    assert row, "no total row"
    broken = text.replace(row.group(0), row.group(0).replace(row.group(1), "1392"))
    assert _total_error(compose, limits_table(broken)) is not None


def _healthcheck_binary(svc: dict[str, Any]) -> str | None:
    test = (svc.get("healthcheck") or {}).get("test")
    if not test:
        return None
    assert test[0] in {"CMD", "CMD-SHELL"}, test
    return test[1] if test[0] == "CMD" else test[1].split()[0]


def test_every_healthcheck_binary_is_in_its_image(compose, table) -> None:
    image = Image.from_dockerfile()
    ours = {name for name, svc in compose["services"].items() if "build" in svc
            or svc.get("image") == compose["services"]["tasks"]["image"]}  # fmt: skip
    assert ours == {"tasks", "predictor", "alert-receiver", "dashboard"}
    for name, svc in compose["services"].items():
        binary = _healthcheck_binary(svc)
        row = table[name]
        listed = set(re.findall(r"`([^`]+)`", row["healthcheck runs"]))
        if binary is None:
            assert row["healthcheck runs"] == "—", name
            continue
        assert binary in listed, f"{name}: {binary} not in the table's {listed}"
        assert row["present in the image because"], f"{name}: no evidence"
        if name in ours:
            # Our image: the Dockerfile installs the script, and its interpreter is listed.
            src = next(s for d, s in image.copies.items() if Path(d).name == binary)
            shebang = (REPO / src).read_text().splitlines()[0]
            assert Path(shebang.removeprefix("#!").split()[0]).name in listed


def test_healthchecks_start_no_runtime_where_the_image_has_bash(compose) -> None:
    """A Node.js (mongosh) or Python process every 10 s costs 20+ MiB inside the limit."""
    for name in ("tasks", "predictor", "alert-receiver", "mongo"):
        assert _healthcheck_binary(compose["services"][name]) not in {"mongosh", "python"}, name


def test_waited_for_services_have_healthchecks(compose) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} waits for unknown {dep}"
            assert cond["condition"] == "service_healthy", f"{name} -> {dep}"
            assert _healthcheck_binary(services[dep]), f"{name} waits for {dep}, which has none"


def test_our_healthchecks_ask_our_own_port(compose) -> None:
    """HEALTHCHECK_URL must name the port the service listens on, else it is never healthy."""
    for name, svc in compose["services"].items():
        env = svc.get("environment") or {}
        url = env.get("HEALTHCHECK_URL")
        if not url:
            continue
        port = re.search(r":(\d+)/", url).group(1)  # type: ignore[union-attr]
        command = svc.get("command") or []
        listens = env.get(f"{name.upper()}_PORT") or (
            command[command.index("--port") + 1] if "--port" in command else None
        )
        assert port == listens, f"{name}: healthcheck on {port}, listens on {listens}"


def test_mongo_cache_is_at_least_mongodb_minimum(compose) -> None:
    command = compose["services"]["mongo"]["command"]
    size = float(command[command.index("--wiredTigerCacheSizeGB") + 1])
    assert size >= 0.25  # mongod >= 4.7 exits below this


def _canonical(name: str) -> str:
    """PEP 503: case, '-', '_' and '.' do not matter (ruamel.yaml is ruamel-yaml)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(requirements: list[str]) -> set[str]:
    return {_canonical(re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0]) for r in requirements}


def test_constraints_pin_every_dependency() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = _names(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        wanted |= _names(extra)
    pinned = {
        _canonical(m.group(1))
        for m in re.finditer(r"^([A-Za-z0-9._-]+)==", (REPO / "constraints.txt").read_text(), re.M)
    }
    missing = wanted - pinned
    assert not missing, f"not in constraints.txt (run `make lock`): {sorted(missing)}"
    assert "-c constraints.txt" in (REPO / "Dockerfile").read_text()
    assert "-c constraints.txt" in (REPO / "Makefile").read_text()


def test_the_measured_table_is_the_saved_run() -> None:
    """docs/stack.md's measured peaks are rendered from the saved results, not typed."""
    from bench.stack_memory import BEGIN, END, render

    text = DOC.read_text()
    shown = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert shown == render(json.loads(MEASURED.read_text()))


def test_the_image_builds_with_a_pinned_backend() -> None:
    """pip builds the wheel with the setuptools the Dockerfile pins, inside pyproject's range."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    dockerfile = (REPO / "Dockerfile").read_text()
    m = re.search(r"^ARG SETUPTOOLS_VERSION=(\S+)$", dockerfile, re.M)
    assert m, "the build backend is not pinned"
    assert 'pip install "setuptools==${SETUPTOOLS_VERSION}"' in dockerfile
    # without isolation pip would build with the newest setuptools instead of the pin
    assert "--no-build-isolation -c constraints.txt ." in dockerfile
    build = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]
    (wanted,) = [Requirement(r) for r in build["requires"] if r.startswith("setuptools")]
    assert Version(m[1]) in wanted.specifier


def test_prometheus_may_replay_its_wal_before_counting_failures(compose) -> None:
    check = compose["services"]["prometheus"]["healthcheck"]
    assert "start_period" in check
    m = re.fullmatch(r"(\d+)s", check["start_period"])
    assert m and int(m[1]) >= 30


def test_blackbox_runs_as_nobody_like_in_kubernetes(compose) -> None:
    # the image sets no USER: without one it would run as root
    import yaml

    user = compose["services"]["blackbox"]["user"]
    manifest = yaml.safe_load_all((REPO / "deploy/kubernetes/base/blackbox.yaml").read_text())
    (deployment,) = [d for d in manifest if d and d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert user == f"{pod['runAsUser']}:{pod['runAsGroup']}" == "65534:65534"


def test_prometheus_floor_covers_its_peak_after_a_backfilled_month(table) -> None:
    """The 30-day rules read a month of samples: the floor is the HISTORY=30d run's peak."""
    run = json.loads((REPO / "bench" / "results" / "lab-prometheus-memory.json").read_text())
    assert run["settings"]["history"] == "30d"
    row = table["prometheus"]
    assert float(row["floor MiB"]) >= run["rss_peak_mib"] * MARGIN - 0.5
    assert f"peaked at {run['rss_peak_mib']:.0f} MiB" in row["floor from"]
    # the version measured is named, since compose runs another
    assert run["prometheus_version"].split(".")[0] == "2" and "2.42" in row["floor from"]
