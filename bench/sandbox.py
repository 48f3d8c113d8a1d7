"""Run one of our compose services natively, the way compose runs it.

There is no Docker engine here, so a container is approximated with what Linux
gives root directly: a private mount namespace (``unshare --mount``) in which
every mount is remounted read-only (``read_only: true``), the service's compose
``tmpfs`` entries and Docker's default ``/dev/shm`` are fresh tmpfs mounts, and
the command runs as the Dockerfile's ``USER`` with no capabilities and
``no_new_privs`` (``cap_drop: [ALL]``, ``no-new-privileges``). The environment is
the Dockerfile's ``ENV`` plus the service's compose ``environment``; the argv is
the image ``ENTRYPOINT`` plus the compose ``command``. What differs from a real
container is listed in docs/stack.md ("Run like compose, without Docker").

    sb = Sandbox.for_service("predictor", env={"PREDICTOR_PORT": "18082"}, log=path)
    sb.start(); ...; outcome = sb.stop()   # outcome.written: files left in its tmpfs

The same file is the helper that runs inside the namespace
(``python -m bench.sandbox SPEC_JSON``, as root, before dropping to the uid).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import yaml

if TYPE_CHECKING:  # the helper run inside the namespace imports no more than it needs
    from slolab.lab.procs import ManagedProcess

__all__ = [
    "COMPOSE",
    "DOCKERFILE",
    "NATIVE_BINARIES",
    "STAND_IN_SECRETS",
    "Image",
    "Outcome",
    "Sandbox",
    "can_sandbox",
    "dotenv",
    "interpolate",
    "load_compose",
    "native_command",
    "native_overrides",
]

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
# PATH of the python:*-slim base image before our Dockerfile prepends the venv.
BASE_PATH = "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
IMAGE_VENV = "/opt/venv"
DOCKER_SHM = ("/dev/shm", "size=64m")  # Docker's default shm_size, writable under read_only
WRITTEN_MARK = "SANDBOX-WRITTEN "

# --- compose and Dockerfile, read as compose and docker read them ---------------------

_VAR = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def dotenv(path: Path = REPO / ".env") -> dict[str, str]:
    """The KEY=VALUE lines of a compose .env file."""
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-x}``, ``${VAR-x}``, ``${VAR:?e}``, ``${VAR?e}``, ``$$``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        value = env.get(name)
        missing = value is None or (op.startswith(":") and value == "")
        if not missing:
            return str(value)
        if op.endswith("?"):
            raise ValueError(f"{name} is required: {arg}")
        return arg

    return _VAR.sub(sub, text)


def load_compose(env: Mapping[str, str] | None = None, path: Path = COMPOSE) -> dict[str, Any]:
    """docker-compose.yml with variables from .env, then ``env`` (as the shell would)."""
    return yaml.safe_load(interpolate(path.read_text(), {**dotenv(), **(env or {})}))


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) with continuations joined; comment lines dropped (as docker does)."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.splitlines():
        if raw.lstrip().startswith("#"):
            continue
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@dataclass(frozen=True)
class Image:
    """What the runtime stage of our Dockerfile sets: ENV, USER, WORKDIR, ENTRYPOINT, COPYs."""

    env: dict[str, str]
    uid: int
    gid: int
    workdir: str
    entrypoint: list[str]
    copies: dict[str, str]  # COPY destination -> source (from the build context or a stage)

    @classmethod
    def from_dockerfile(cls, path: Path = DOCKERFILE) -> Image:
        steps = _instructions(path.read_text())
        last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
        env = {"PATH": BASE_PATH}
        uid = gid = 0
        workdir, entrypoint, copies = "/", [], {}
        for word, rest in steps[last_from + 1 :]:
            if word == "ENV":
                for pair in shlex.split(rest):
                    key, _, value = pair.partition("=")
                    env[key] = re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), ""), value)
            elif word == "USER":
                user, _, group = rest.partition(":")
                uid, gid = int(user), int(group or user)
            elif word == "WORKDIR":
                workdir = rest
            elif word == "ENTRYPOINT":
                entrypoint = json.loads(rest)
            elif word == "COPY":
                args = [a for a in shlex.split(rest) if not a.startswith("--")]
                copies[args[-1]] = args[0]
        return cls(env, uid, gid, workdir, entrypoint, copies)

    def native_env(self) -> dict[str, str]:
        """ENV with the image's virtualenv replaced by the one running this code."""
        env = {k: v.replace(IMAGE_VENV, sys.prefix) for k, v in self.env.items()}
        # Docker sets HOME from the user's passwd entry; ours has no home directory.
        env.setdefault("HOME", "/home/slolab")
        return env


# --- the sandbox ----------------------------------------------------------------------


@functools.cache
def can_sandbox() -> str | None:
    """None if sandboxes can run here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "needs root for a mount namespace and a uid switch"
    for tool in ("unshare", "setpriv", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed"
    run = subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=30)
    if run.returncode != 0:
        return f"unshare --mount failed: {run.stderr.decode().strip()}"
    # A fresh tmpfs over a folder hides what lies below it: a checkout or an
    # interpreter under one of compose's tmpfs paths (say a clone in /tmp) vanishes.
    needed = (REPO, Path(sys.prefix), Path(sys.executable).resolve())
    compose = load_compose({"GRAFANA_ADMIN_PASSWORD": "unused"})  # required, not used here
    for svc in compose.get("services", {}).values():
        for path, _ in _tmpfs_entries(svc):
            hidden = [str(n) for n in needed if n.is_relative_to(path)]
            if hidden:
                return f"{', '.join(hidden)} lies under {path}, a tmpfs in compose: work elsewhere"
    return None


@dataclass
class Outcome:
    returncode: int | None  # the service's (negative: killed by that signal)
    written: dict[str, int]  # path in a tmpfs -> size (-1: a directory) when it stopped
    log: str


@dataclass
class Spec:
    """What the helper inside the namespace needs (passed as JSON)."""

    argv: list[str]
    env: dict[str, str]
    uid: int
    gid: int
    workdir: str
    tmpfs: list[tuple[str, str]]  # (path, options)
    reveal: list[str] = field(default_factory=list)  # paths the uid must be able to reach


def _tmpfs_entries(svc: Mapping[str, Any]) -> list[tuple[str, str]]:
    entries = svc.get("tmpfs") or []
    if isinstance(entries, str):
        entries = [entries]
    out = []
    for entry in entries:
        path, _, opts = str(entry).partition(":")
        out.append((path, opts))
    return out


class Sandbox:
    """One compose service's command, run natively like its container (see module doc)."""

    def __init__(self, spec: Spec, log: Path) -> None:
        self.spec, self.log = spec, log
        self.proc: ManagedProcess | None = None

    @classmethod
    def for_service(
        cls,
        name: str,
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        command: Sequence[str] | None = None,
        compose: Mapping[str, Any] | None = None,
    ) -> Sandbox:
        """``env`` overrides the container environment (ports, peers); ``command`` the
        compose command (e.g. a free port); both are what a test must change."""
        compose = compose or load_compose({"GRAFANA_ADMIN_PASSWORD": "unused"})
        svc = compose["services"][name]
        if svc.get("read_only") is not True:
            raise ValueError(f"{name} is not read_only in compose: the sandbox would lie")
        image = Image.from_dockerfile()
        container_env = {**image.native_env(), **(svc.get("environment") or {}), **(env or {})}
        container_env = {k: str(v) for k, v in container_env.items() if v is not None}
        entry = shutil.which(image.entrypoint[0], path=container_env["PATH"])
        if entry is None:
            raise FileNotFoundError(f"{image.entrypoint[0]} not on the image PATH")
        argv = [entry, *image.entrypoint[1:], *(command or svc.get("command") or [])]
        spec = Spec(
            argv=argv, env=container_env, uid=image.uid, gid=image.gid, workdir=image.workdir,
            tmpfs=[*_tmpfs_entries(svc), DOCKER_SHM],
            reveal=[os.path.realpath(sys.executable), sys.prefix, str(REPO)],
        )  # fmt: skip
        return cls(spec, log)

    def start(self) -> None:
        argv = ["unshare", "--mount", "--propagation", "private",
                sys.executable, "-m", "bench.sandbox", json.dumps(asdict(self.spec))]  # fmt: skip
        from slolab.lab.procs import spawn

        self.proc = spawn(Path(self.spec.argv[0]).name, argv, self.log, cwd=REPO)

    def wait_ready(self, url: str) -> float:
        """Poll ``url`` until it answers 2xx (see :func:`slolab.lab.procs.wait_ready`)."""
        assert self.proc is not None, "start() first"
        return self.proc.wait_ready(url)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.exited() is None

    def processes(self) -> list[psutil.Process]:
        """The service's process tree (without the root helper that waits for it)."""
        if not self.alive():
            return []
        assert self.proc is not None
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def rss_bytes(self) -> int:
        total = 0
        for p in self.processes():
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

    def stop(self, timeout: float = 30.0) -> Outcome:
        code = None
        if self.proc is not None:
            popen = self.proc.popen
            if popen.poll() is None:
                popen.send_signal(signal.SIGTERM)  # the helper passes it on
            try:
                code = popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(popen.pid, signal.SIGKILL)
                code = popen.wait(10)
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        # The service's own exit status; the helper's when it failed before the service ran.
        written: dict[str, int] = {}
        for line in text.splitlines():
            if line.startswith(WRITTEN_MARK):
                report = json.loads(line[len(WRITTEN_MARK) :])
                code, written = report["returncode"], report["written"]
        return Outcome(code, written, text)


def native_overrides(
    name: str, port: int, *, peers: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str] | None]:
    """(env, command) that move one of our services onto a free loopback port here.

    What changes against compose, and why: the port and a 127.0.0.1 bind (we share the
    host's network with other runs); ``MONGO_URL`` is empty, so tasks keeps its SQLite
    store on the tmpfs (no MongoDB here); ``peers`` gives the URLs of the predictor and
    the OTLP endpoint (compose: ``predictor:8082``, ``jaeger:4318``).
    """
    peers = peers or {}
    health = {"HEALTHCHECK_URL": f"http://127.0.0.1:{port}/readyz"}
    if name == "alert-receiver":
        return health, ["alert-receiver", "--host", "127.0.0.1", "--port", str(port)]
    env = {
        **health,
        f"{name.upper()}_PORT": str(port),
        f"{name.upper()}_HOST": "127.0.0.1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": peers.get("otlp", "http://127.0.0.1:9"),
    }
    if name == "tasks":
        env["MONGO_URL"] = ""
        env["PREDICTOR_URL"] = peers.get("predictor", "http://127.0.0.1:9")
    return env, None


# --- Prometheus, Alertmanager, blackbox: Debian's binaries with compose's flags --------

# compose service -> Debian's binary (older than the pinned images: see native_command)
NATIVE_BINARIES = {
    "prometheus": "prometheus",
    "alertmanager": "prometheus-alertmanager",
    "blackbox": "prometheus-blackbox-exporter",
}
# Alertmanager's receivers read these files (never committed): stand-ins so they load.
STAND_IN_SECRETS = {
    f"/etc/alertmanager/secrets/{key}": "https://example.invalid/FAKE\n"
    for key in ("pagerduty-routing-key", "slack-webhook-url")
}


def _rewrite(text: str, mapping: Mapping[str, str]) -> str:
    """Replace every key by its value in one pass (the longest key wins; replaced text
    is not looked at again, so a host path that contains a container path stays whole)."""
    if not mapping:
        return text
    keys = sorted(mapping, key=len, reverse=True)
    return re.sub("|".join(map(re.escape, keys)), lambda m: mapping[m.group(0)], text)


def native_command(
    name: str,
    scratch: Path,
    port: int,
    *,
    hosts: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
    compose: Mapping[str, Any] | None = None,
) -> tuple[list[str], list[str]]:
    """(argv, dropped flags) of compose service ``name`` run natively by Debian's binary.

    Volume n becomes ``scratch/v{n}`` and tmpfs n ``scratch/t{n}`` (repository mounts are copied, so
    the container paths inside the configs can be rewritten to them); ``hosts`` maps
    compose addresses (``tasks:8081``) to reachable ones in the copied configs; the web
    address moves to ``127.0.0.1:port``; ``files`` (container path -> text) are written
    into the mapped folders (e.g. stand-ins for secrets never committed). A flag the
    Debian version does not know is dropped and returned: callers decide if that is fine.
    """
    compose = compose or load_compose({"GRAFANA_ADMIN_PASSWORD": "unused"})
    svc = compose["services"][name]
    binary = shutil.which(NATIVE_BINARIES[name])
    if binary is None:
        raise FileNotFoundError(f"{NATIVE_BINARIES[name]} is not installed (Debian package)")
    paths: dict[str, str] = {}
    for n, volume in enumerate(svc.get("volumes") or []):
        source, target = volume.split(":")[:2]
        host = scratch / f"v{n}"
        if source.startswith("."):
            shutil.copytree(REPO / source, host)
        else:
            host.mkdir()  # a named volume, empty at first start
        paths[target] = str(host)
    for n, entry in enumerate(svc.get("tmpfs") or []):
        (scratch / f"t{n}").mkdir()
        paths[str(entry).split(":")[0]] = str(scratch / f"t{n}")
    rewrites = {**{f"{t}/": f"{h}/" for t, h in paths.items()},
                **{f"={t}": f"={h}" for t, h in paths.items()}}  # fmt: skip
    for config in scratch.glob("v*/*.y*ml"):
        config.write_text(_rewrite(config.read_text(), {**rewrites, **(hosts or {})}))
    for path, text in (files or {}).items():
        Path(_rewrite(path, rewrites)).write_text(text)
    known = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    argv, dropped = [binary], []
    for flag in svc.get("command") or []:
        if flag.split("=")[0] not in known.stdout + known.stderr:
            dropped.append(flag.split("=")[0])
            continue
        argv.append(_rewrite(flag, rewrites))
    argv.append(f"--web.listen-address=127.0.0.1:{port}")
    return argv, dropped


# --- the helper inside the namespace (root, before the uid switch) ---------------------


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, per-mount options, fs type) from /proc/self/mountinfo."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        point = re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        out.append((point, fields[5], fields[sep + 1]))
    return out


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def _reveal(paths: Sequence[str], uid: int) -> None:
    """Let ``uid`` traverse to ``paths`` (e.g. an interpreter under a 0700 /root), inside
    this namespace only: a 0755 tmpfs over the closed directory, the needed child bound back.
    """
    closed: dict[str, set[str]] = {}
    for target in paths:
        parts = Path(target).parts
        for i in range(1, len(parts) - 1):
            parent = Path(*parts[: i + 1])
            st = parent.stat()
            if st.st_uid != uid and not st.st_mode & 0o001:
                closed.setdefault(str(parent), set()).add(parts[i + 1])
                break
    if not closed:
        return
    # A scratch tmpfs over a directory none of the paths is under (this namespace only).
    stage = next(
        d
        for d in ("/tmp", "/srv", "/opt", "/media")
        if os.path.isdir(d) and not any(p.startswith(d + "/") for p in paths)
    )
    _sh("mount", "-t", "tmpfs", "tmpfs", stage)
    for n, (parent, children) in enumerate(sorted(closed.items())):
        for child in sorted(children):
            held = f"{stage}/{n}-{child}"
            os.mkdir(held)
            _sh("mount", "--bind", f"{parent}/{child}", held)
        _sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", parent)
        for child in sorted(children):
            os.mkdir(f"{parent}/{child}")
            _sh("mount", "--bind", f"{stage}/{n}-{child}", f"{parent}/{child}")
    _sh("umount", "--lazy", stage)


def _writable_mounts() -> list[str]:
    # A point mounted twice shows twice; only the last (top) one is reachable.
    top = {point: opts for point, opts, _ in _mounts()}
    return [p for p, o in top.items()
            if not p.startswith(("/proc", "/sys")) and "ro" not in o.split(",")]  # fmt: skip


def _read_only_everywhere() -> None:
    for point in _writable_mounts():
        _sh("mount", "-o", "remount,bind,ro", point)
    left = _writable_mounts()
    if left:
        raise SystemExit(f"sandbox: could not make read-only: {left}")


def _written(paths: Sequence[str]) -> dict[str, int]:
    """Every file (size) and directory (-1) in the tmpfs mounts."""
    files = {}
    for root in paths:
        for dirpath, dirs, names in os.walk(root):
            files.update({os.path.join(dirpath, d) + "/": -1 for d in dirs})
            for name in names:
                full = os.path.join(dirpath, name)
                try:
                    files[full] = os.lstat(full).st_size
                except OSError:
                    continue
    return files


def _inner(spec: Spec) -> int:
    # Private propagation (unshare's default) keeps every mount below out of the host.
    _reveal(spec.reveal, spec.uid)
    _read_only_everywhere()
    for path, opts in spec.tmpfs:
        # Docker's tmpfs defaults: mode 1777, owned by root unless uid/gid are given.
        options = ",".join(x for x in ("mode=1777", opts) if x)
        _sh("mount", "-t", "tmpfs", "-o", options, "tmpfs", path)
    child = subprocess.Popen(
        ["setpriv", f"--reuid={spec.uid}", f"--regid={spec.gid}", "--clear-groups",
         "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", *spec.argv],
        env=spec.env, cwd=spec.workdir,
    )  # fmt: skip

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    code = child.wait()
    written = _written([p for p, _ in spec.tmpfs])
    print(WRITTEN_MARK + json.dumps({"returncode": code, "written": written}), flush=True)
    return 0


if __name__ == "__main__":
    raw = json.loads(sys.argv[1])
    raw["tmpfs"] = [tuple(t) for t in raw["tmpfs"]]
    sys.exit(_inner(Spec(**raw)))
