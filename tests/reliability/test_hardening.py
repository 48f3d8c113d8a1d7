"""Static checks of the deployment's hardening and a scan for committed secrets.

tests/stack checks the compose file's shape; these check its security properties as
resolved by docker-compose itself (defaults interpolated), the Grafana provisioning,
the Alertmanager receivers, and every file git would commit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.reliability.services import REPO

pytestmark = pytest.mark.slow  # servers, subprocesses, promtool: `make test` only

COMPOSE = REPO / "docker-compose.yml"
docker_compose = shutil.which("docker-compose")

# Services whose image cannot run with a read-only root filesystem, and why.
WRITABLE_ROOT = {"mongo": "mongod writes lock and diagnostic files outside its data volume"}
# Images that must start as root, and why (everything else runs as its image's user).
ROOT_ALLOWED = {
    "mongo": "the image drops to the mongodb user itself (gosu)",
    "cadvisor": "reads the host's cgroups and Docker state",
}
# Our own images: the Dockerfile's USER applies.
OURS = {"tasks", "predictor", "alert-receiver", "dashboard"}

SECRET_PATTERNS = {
    "Slack webhook URL": re.compile(r"https://hooks\.slack\.com/(services|workflows)/[A-Za-z0-9/_-]{10,}"),
    "PagerDuty key": re.compile(
        r"(routing_key|service_key|integration_key)\s*[:=]\s*['\"]?[A-Za-z0-9+_-]{20,}", re.I
    ),
    # a value, not a reference: ${VAR}, <placeholder>, a call, an absolute path
    # (a *_FILE setting), a path expression (tmp_path / "name") or None are not secrets
    "password literal": re.compile(
        r"(password|passwd)\w*\s*[:=]\s*['\"]?(?!\$\{)(?![<{/])(?!None\b)(?![\w.]+\()(?![\w.]+\s+/)"
        r"[^\s'\"$]{4,}", re.I
    ),
    "private key": re.compile(r"-----BEGIN (RSA |EC |OPENSSH |)PRIVATE KEY-----"),
    "AWS access key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "GitHub token": re.compile(r"gh[pousr]_[A-Za-z0-9]{36}"),
    "Slack token": re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}"),
}  # fmt: skip
# Lines that look like the patterns but are not secrets (docs, tests of these checks).
ALLOWED_LINES = re.compile(r"GRAFANA_ADMIN_PASSWORD|password_file|FAKE|example|\.\.\.")


def _resolved_compose() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in {"SLOLAB_BIND", "SLOLAB_ADMIN_TOKEN"}}
    env["GRAFANA_ADMIN_PASSWORD"] = "only-for-config-validation"
    run = subprocess.run(
        [docker_compose, "-f", str(COMPOSE), "config"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return yaml.safe_load(run.stdout)


needs_compose = pytest.mark.skipif(
    docker_compose is None or not COMPOSE.exists(), reason="needs docker-compose.yml and the tool"
)


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    return _resolved_compose()


@needs_compose
def test_every_published_port_is_loopback_by_default(resolved) -> None:
    published = {}
    for name, svc in resolved["services"].items():
        for port in svc.get("ports") or []:
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            published[name] = host_ip
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond loopback"
    # Prometheus, Alertmanager and the services (their admin surface) at least.
    assert {"prometheus", "alertmanager", "tasks", "predictor"} <= set(published)


@needs_compose
def test_root_filesystems_are_read_only(resolved) -> None:
    for name, svc in resolved["services"].items():
        if name in WRITABLE_ROOT:
            continue
        assert svc.get("read_only") is True, f"{name}: read_only missing"


@needs_compose
def test_nothing_runs_privileged_or_as_root_by_choice(resolved) -> None:
    for name, svc in resolved["services"].items():
        assert not svc.get("privileged"), name
        assert not svc.get("cap_add"), name
        assert svc.get("network_mode") != "host", name
        assert str(svc.get("user", "")).split(":")[0] not in {"root", "0"}, name
        for volume in svc.get("volumes") or []:
            # Host paths (configs, the Docker socket, /sys) are mounted read-only;
            # only named volumes hold writable data.
            if str(volume).startswith("/"):
                assert str(volume).endswith(":ro"), f"{name}: {volume} is writable"
    unknown = set(resolved["services"]) - OURS - set(ROOT_ALLOWED) - {
        "prometheus", "history", "alertmanager", "blackbox", "grafana", "jaeger",
        "locust-master", "locust-worker-1", "locust-worker-2",
    }  # fmt: skip
    assert not unknown, f"new services: decide whether they run as root: {unknown}"


def test_our_image_runs_as_an_unprivileged_user() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    # The last stage is the runtime one, and the USER comes after its FROM.
    assert dockerfile.rfind("USER ") > dockerfile.rfind("FROM ")


@needs_compose
def test_grafana_is_anonymous_read_only_with_a_required_password(resolved) -> None:
    env = resolved["services"]["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env.get("GF_USERS_ALLOW_SIGN_UP") == "false"
    # No default in the file: compose refuses to start without it (checked in tests/stack).
    assert "${GRAFANA_ADMIN_PASSWORD:?" in COMPOSE.read_text()
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "only-for-config-validation"
    prov = REPO / "grafana" / "provisioning"
    for path in (prov / "datasources").glob("*.y*ml"):
        for ds in yaml.safe_load(path.read_text())["datasources"]:
            assert ds.get("editable") is False, (path.name, ds["name"])
            assert not ds.get("secureJsonData"), "datasource credentials in the repository"
    for path in (prov / "dashboards").glob("*.y*ml"):
        for provider in yaml.safe_load(path.read_text())["providers"]:
            assert provider.get("allowUiUpdates") is False, path.name


def test_alertmanager_reads_keys_from_files() -> None:
    for path in (REPO / "alertmanager").glob("*.y*ml"):
        config = yaml.safe_load(path.read_text())
        for receiver in config.get("receivers") or []:
            for pd in receiver.get("pagerduty_configs") or []:
                assert "routing_key" not in pd and "service_key" not in pd, path.name
                assert {"routing_key_file", "service_key_file"} & set(pd), path.name
            for slack in receiver.get("slack_configs") or []:
                assert "api_url" not in slack and "api_url_file" in slack, path.name
        assert "api_url" not in (config.get("global") or {}), path.name


def test_secret_files_are_ignored_by_git() -> None:
    for path in (".env.local", "alertmanager/secrets/pagerduty-routing-key",
                 "alertmanager/secrets/slack-webhook-url"):  # fmt: skip
        run = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, timeout=30)
        assert run.returncode == 0, f"{path} would be committed"


def _committable_files() -> list[Path]:
    """Tracked files plus untracked ones git would add (not ignored)."""
    run = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    return [REPO / p for p in run.stdout.decode().split("\0") if p]


def scan(text: str) -> list[tuple[str, int]]:
    """(kind, line number) of every secret-looking string in ``text``."""
    hits = []
    for number, line in enumerate(text.splitlines(), 1):
        if ALLOWED_LINES.search(line):
            continue
        hits += [(kind, number) for kind, rx in SECRET_PATTERNS.items() if rx.search(line)]
    return hits


def test_no_secret_is_committed() -> None:
    found = {}
    files = _committable_files()
    assert len(files) > 50
    for path in files:
        if not path.is_file() or path.stat().st_size > 2_000_000 or path == Path(__file__):
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        hits = scan(text)
        if hits:
            found[str(path.relative_to(REPO))] = hits
    assert found == {}


@pytest.mark.parametrize(
    "line",
    [
        "api_url: https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXX",
        "routing_key: 0123456789abcdef0123456789abcdef",
        "GF_SECURITY_ADMIN_PASSWORD_X: hunter22",
        "password = 'correct-horse'",
        "smtp_password=hunter2hunter2",
        "-----BEGIN RSA PRIVATE KEY-----",
    ],
)
def test_the_scan_finds_what_it_looks_for(line: str) -> None:
    assert scan(line), line


@pytest.mark.parametrize(
    "line",
    [
        "GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD}",
        "routing_key_file: /etc/alertmanager/secrets/pagerduty-routing-key",
        "password: ${DB_PASSWORD}",
        "SLOLAB_SMTP_PASSWORD_FILE=/run/secrets/smtp",
        'password=_setting(env, "SLOLAB_SMTP_PASSWORD"),',
        'password = tmp_path / "smtp-password"',
    ],
)
def test_the_scan_leaves_references_alone(line: str) -> None:
    assert not scan(line), line
