"""The native lab: both services, Prometheus, Alertmanager, the probe and load.

Usable as a library (tests start it with free ports and short intervals)::

    with Lab(LabConfig(lab_dir=tmp, ports=..., load=False)) as lab:
        lab.url("prometheus")

Everything it writes lives in ``config.lab_dir``; everything it starts is
stopped on ``stop()`` / leaving the ``with`` block, also after an error.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from slolab.lab import binaries, render
from slolab.lab.config import COMPONENT_PORTS, LabConfig
from slolab.lab.procs import (
    ManagedProcess,
    NotReadyError,
    Supervisor,
    check_ports,
    free_port,
    ready_timeout,
)
from slolab.lab.prometheus import prometheus_argv
from slolab.lab.webhook import AlertReceiver, Notification, format_notification

if TYPE_CHECKING:
    from slolab.lab.otlp import OTLPReceiver

__all__ = ["Lab", "LabError", "fast_config"]

# Components a run may leave out, and when it starts them; every other component of
# contract.COMPONENT_PORTS always runs.
_OPTIONAL_COMPONENTS: dict[str, Callable[[Lab], bool]] = {
    "blackbox": lambda lab: lab.config.blackbox,
    "locust": lambda lab: lab.config.load and lab.config.locust_ui and lab.config.gameday is None,
    "webhook": lambda lab: lab.config.webhook_url is None,  # the lab's own alert receiver
    "dashboard": lambda lab: lab.config.dashboard,
    "otlp": lambda lab: lab.traces in ("store", "jaeger"),  # the receiver, or Jaeger's
    "jaeger": lambda lab: lab.traces == "jaeger",
}
MARKER = ".slolab-lab"  # only a folder holding this file is ever deleted by RESET=1
BLACKBOX_CANDIDATES = ("blackbox/blackbox.yml", "prometheus/blackbox.yml", "blackbox.yml")


class LabError(RuntimeError):
    """The lab cannot start; the message says why and what to do."""


class Lab:
    """One run of the native lab."""

    def __init__(
        self,
        config: LabConfig,
        *,
        echo: Callable[[str], None] = print,
        on_alert: Callable[[Notification], None] | None = None,
    ) -> None:
        self.config = config.with_token()
        self.echo = echo
        self.on_alert = on_alert
        self.dir = self.config.lab_dir
        self.supervisor = Supervisor(self.dir / "logs", stop_timeout=self.config.stop_timeout)
        self.receiver: AlertReceiver | None = None
        self.ready_seconds: dict[str, float] = {}
        self.history_end: float | None = None  # where a HISTORY backfill ends (unix time)
        self.bins: dict[str, str] = {}
        # Traces: "store" (our receiver), "jaeger", "external" (OTEL_EXPORTER_OTLP_ENDPOINT)
        # or "off"; decided at start (LAB_TRACES=auto looks for a Jaeger binary).
        self.traces = "off"
        self.otlp: OTLPReceiver | None = None
        self.jaeger_metrics_port: int | None = None

    # -- public ------------------------------------------------------------------

    @property
    def gameday_state(self) -> Path:
        """Where a game day in this lab keeps its live scorecard (the dashboard shows it)."""
        return self.dir / "gameday.json"

    @property
    def rules_dir(self) -> Path:
        """The rule files' copies Prometheus reads (with a game day or test intervals)."""
        return self.dir / "config" / "rules"

    @property
    def admin_token(self) -> str:
        return self.config.admin_token

    def url(self, component: str) -> str:
        return self.config.url(component)

    def start(self) -> Lab:
        """Start every component and wait until each is ready; stop all on any failure."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process this lab started (newest first) and its in-process receivers."""
        self.supervisor.stop()
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None
        if self.otlp is not None:
            self.otlp.stop()  # after the services: their last spans are flushed on SIGTERM
            self.otlp = None

    @property
    def trace_store_path(self) -> Path:
        return self.dir / "traces" / "traces.sqlite3"

    @property
    def otlp_endpoint(self) -> str | None:
        """Where the services send their spans (None: nowhere)."""
        if self.traces == "external":
            return self.config.otlp_endpoint
        return self.url("otlp") if self.traces in ("store", "jaeger") else None

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def check(self) -> None:
        """Raise :class:`LabError` if a started process has died."""
        dead = self.supervisor.dead()
        if dead:
            p = dead[0]
            raise LabError(
                f"{p.name} exited with code {p.exited()}; see {p.log_path}:\n{p.log_tail()}"
            )

    @property
    def processes(self) -> list[ManagedProcess]:
        return list(self.supervisor.procs)

    # -- steps -------------------------------------------------------------------

    def _start(self) -> None:
        cfg = self.config
        self._prepare_dir()
        self.bins = self._binaries()
        self._choose_traces()
        ports = self._ports_in_use()
        try:
            check_ports(ports, {k: COMPONENT_PORTS[k][1] for k in ports}, cfg.host)
        except RuntimeError as exc:
            raise LabError(str(exc)) from None
        self._render_configs()
        if cfg.history:
            self._backfill_history()
        if cfg.webhook_url is None:
            self.receiver = AlertReceiver(cfg.host, cfg.ports.webhook, self._alert).start()
        self._start_traces()

        self._start_service("tasks")
        self._start_service("predictor")
        # Prometheus and its companions start while the services import and train:
        # its rule groups' first evaluations then come sooner (docs/lab.md, "From
        # clone to first page"); scrapes of a service not up yet just fail.
        if cfg.blackbox:
            self._start_blackbox()
        self._start_alertmanager()
        self._start_prometheus()
        if cfg.blackbox:
            self._wait("blackbox", f"{self.url('blackbox')}/-/healthy")
        self._wait("alertmanager", f"{self.url('alertmanager')}/-/ready")
        self._wait("prometheus", f"{self.url('prometheus')}/-/ready")
        self._wait("tasks", f"{self.url('tasks')}/readyz")
        self._wait("predictor", f"{self.url('predictor')}/readyz")
        if cfg.dashboard:
            self._start_dashboard()
        if cfg.load and cfg.gameday is None:  # a game day drives its own load
            self._start_locust()
        self._write_state()

    def _prepare_dir(self) -> None:
        d = self.dir
        if self.config.reset and d.exists():
            if not (d / MARKER).exists() and any(d.iterdir()):
                raise LabError(
                    f"RESET=1: {d} is not empty and is not a lab folder (no {MARKER}); "
                    "refusing to delete it"
                )
            shutil.rmtree(d)
        d.mkdir(parents=True, exist_ok=True)
        (d / MARKER).write_text("state of `slolab lab`; RESET=1 deletes this folder\n")
        for sub in ("config", "logs", "prometheus-data", "alertmanager-data", "tasks", "predictor"):
            (d / sub).mkdir(exist_ok=True)

    def _binaries(self) -> dict[str, str]:
        absent = binaries.missing()
        if absent:
            pkgs = sorted({b.package for b in absent})
            cmd = " && ".join(
                " ".join(c) for c in binaries.apt_command(pkgs, sudo=os.geteuid() != 0)
            )
            raise LabError(
                f"missing {', '.join(b.names[0] for b in absent)}; install with:\n  {cmd}"
            )
        return {k: binaries.find(k) or "" for k in binaries.BINARIES}

    def _ports_in_use(self) -> dict[str, int]:
        """The port of every component of contract.COMPONENT_PORTS this run starts."""
        cfg = self.config
        return {
            name: getattr(cfg.ports, name)
            for name in COMPONENT_PORTS
            if _OPTIONAL_COMPONENTS.get(name, lambda _: True)(self)
        }

    # -- configuration -------------------------------------------------------------

    def _render_configs(self) -> None:
        cfg, repo, out = self.config, self.config.repo, self.dir / "config"
        prom_src = repo / "prometheus" / "prometheus.yml"
        am_src = repo / "alertmanager" / "alertmanager.yml"
        for src in (prom_src, am_src):
            if not src.is_file():
                raise LabError(f"{src} is missing: the lab renders its native config from it")
        source = yaml.safe_load(prom_src.read_text()) or {}
        rule_files = None
        if cfg.evaluation_interval or cfg.extra_rule_files or cfg.gameday is not None:
            # Rule groups evaluate at the test interval too, and a game day's budget
            # adjustments are written into the rules: copies, never the committed files.
            patterns = [
                render.resolve_config_path(str(r), prom_src.parent)
                for r in source.get("rule_files") or []
            ] + [str(p) for p in cfg.extra_rule_files]
            shutil.rmtree(self.rules_dir, ignore_errors=True)
            rule_files, _ = render.render_rule_files(
                patterns, self.rules_dir, interval=cfg.evaluation_interval
            )
        prom = render.render_prometheus(
            source,
            ports=cfg.ports.as_dict(),
            config_dir=prom_src.parent,
            rule_files=rule_files,
            host=cfg.host,
            scrape_interval=cfg.scrape_interval,
            evaluation_interval=cfg.evaluation_interval,
            extra_hosts=self._trace_metrics_hosts(),
        )
        if not cfg.blackbox:
            prom["scrape_configs"] = [
                j for j in prom["scrape_configs"] if not _targets_port(j, cfg.ports.blackbox)
            ]
        (out / "prometheus.yml").write_text(yaml.safe_dump(prom, sort_keys=False))
        self.dropped_jobs = render.dropped_jobs(source, self._trace_metrics_hosts())

        am = render.render_alertmanager(
            yaml.safe_load(am_src.read_text()) or {},
            webhook_url=cfg.alert_webhook_url,
            fast=cfg.fast_alerts,
        )
        (out / "alertmanager.yml").write_text(yaml.safe_dump(am, sort_keys=False))

        if self.traces == "jaeger":
            jaeger_src = repo / "jaeger" / "config.yaml"
            jaeger = render.render_jaeger(
                yaml.safe_load(jaeger_src.read_text()) if jaeger_src.is_file() else {},
                host=cfg.host,
                otlp=cfg.ports.otlp,
                ui=cfg.ports.jaeger,
                metrics=self.jaeger_metrics_port or 0,
                internal=[free_port(), free_port()],
            )
            (out / "jaeger.yml").write_text(yaml.safe_dump(jaeger, sort_keys=False))

        bb = next((repo / c for c in BLACKBOX_CANDIDATES if (repo / c).is_file()), None)
        bb_cfg = yaml.safe_load(bb.read_text()) if bb else render.BLACKBOX_FALLBACK
        (out / "blackbox.yml").write_text(yaml.safe_dump(bb_cfg, sort_keys=False))

    def _backfill_history(self) -> None:
        """Replace the TSDB with a generated past of ``config.history`` (HISTORY=30d)."""
        import glob

        from slolab.lab import backfill, history

        cfg = self.config
        assert cfg.history is not None
        rendered = yaml.safe_load((self.dir / "config" / "prometheus.yml").read_text()) or {}
        rule_files = [
            Path(p) for pattern in rendered.get("rule_files") or [] for p in glob.glob(pattern)
        ]
        began = time.monotonic()
        try:
            tools = backfill.Tools(
                promtool=self.bins["promtool"],
                prometheus=self.bins["prometheus"],
                work=self.dir / "history",
                host=cfg.host,
                echo=self.echo,
            )
            self.history_end = history.build(
                cfg.history, self.dir / "prometheus-data", rule_files, cfg.repo / "slos.yaml",
                tools,
            )  # fmt: skip
        except backfill.BackfillError as exc:
            raise LabError(f"HISTORY={cfg.history.days}d: {exc}") from None
        self.ready_seconds["history"] = round(time.monotonic() - began, 1)

    # -- traces --------------------------------------------------------------------

    def _choose_traces(self) -> None:
        cfg = self.config
        if cfg.otlp_endpoint:
            self.traces = "external"
        elif cfg.traces == "auto":
            self.traces = "jaeger" if binaries.find_jaeger() else "store"
        else:
            self.traces = cfg.traces
        if self.traces == "jaeger":
            found = binaries.find_jaeger()
            if not found:
                raise LabError(
                    "LAB_TRACES=jaeger: no jaeger binary on PATH (or JAEGER_BIN); "
                    "LAB_TRACES=store keeps traces in the lab folder instead"
                )
            self.bins["jaeger"] = found
            self.jaeger_metrics_port = free_port()

    def _trace_metrics_hosts(self) -> dict[str, int]:
        """The compose host ``jaeger`` (Prometheus job ``jaeger``) on the lab's port for it."""
        if self.traces == "store":
            return {"jaeger": self.config.ports.otlp}  # the receiver serves /metrics
        if self.traces == "jaeger" and self.jaeger_metrics_port:
            return {"jaeger": self.jaeger_metrics_port}
        return {}

    def _start_traces(self) -> None:
        """Before the services, so that their first spans have somewhere to go."""
        cfg = self.config
        if self.traces == "store":
            from slolab.lab.otlp import OTLPReceiver

            try:
                self.otlp = OTLPReceiver(
                    self.trace_store_path,
                    cfg.host,
                    cfg.ports.otlp,
                    max_bytes=cfg.trace_store_bytes,
                    max_batch_bytes=cfg.otlp_max_batch_bytes,
                ).start()
            except OSError as exc:
                raise LabError(f"trace receiver on {self.url('otlp')}: {exc}") from None
            self.echo(
                f"lab: {'traces':12} ready at {self.url('otlp')}/v1/traces "
                f"(stored in {self.trace_store_path})"
            )
        elif self.traces == "jaeger":
            argv = [self.bins["jaeger"], f"--config={self.dir / 'config' / 'jaeger.yml'}"]
            self.supervisor.start("jaeger", argv, env=self._base_env())
            self._wait("jaeger", f"{self.url('jaeger')}/")

    # -- components ----------------------------------------------------------------

    def _base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.config.extra_env)
        # Each service gets its own metrics dir under the lab folder (serve.py makes it).
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env["SLOLAB_ADMIN_TOKEN"] = self.admin_token
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def _start_service(self, name: str) -> None:
        cfg = self.config
        env = self._base_env()
        state = self.dir / name
        env.update(
            {
                f"{name.upper()}_HOST": cfg.host,
                f"{name.upper()}_PORT": str(getattr(cfg.ports, name)),
                "SLOLAB_STATE_DIR": str(state),
                "OTEL_SERVICE_NAME": env.get(f"{name.upper()}_OTEL_SERVICE_NAME", name),
            }
        )
        if self.otlp_endpoint:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.otlp_endpoint
        else:
            env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)  # LAB_TRACES=off
        if name == "tasks":
            env["PREDICTOR_URL"] = self.url("predictor")
            # Kept across runs: the SQLite file is part of the lab's history.
            env.setdefault("TASKS_DB_PATH", str(state / "tasks.sqlite3"))
        else:
            env.setdefault("PREDICTOR_MODEL_DIR", str(state / "model"))
        argv = [sys.executable, "-m", "slolab", "serve", name]
        self.supervisor.start(name, argv, env=env, cwd=cfg.repo)

    def _start_companion(self, name: str, *flags: str) -> None:
        """Start a companion binary (Alertmanager, blackbox) on its rendered config and port."""
        cfg = self.config
        argv = [
            self.bins[name],
            f"--config.file={self.dir / 'config' / f'{name}.yml'}",
            f"--web.listen-address={cfg.host}:{getattr(cfg.ports, name)}",
            *flags,
        ]
        self.supervisor.start(name, argv, env=self._base_env())

    def _start_blackbox(self) -> None:
        self._start_companion("blackbox")

    def _start_alertmanager(self) -> None:
        self._start_companion(
            "alertmanager",
            f"--storage.path={self.dir / 'alertmanager-data'}",
            f"--web.external-url={self.url('alertmanager')}",
            "--cluster.listen-address=",  # no gossip: a single instance
        )

    def _start_prometheus(self) -> None:
        cfg = self.config
        argv = prometheus_argv(
            self.bins["prometheus"],
            self.dir / "config" / "prometheus.yml",
            self.dir / "prometheus-data",
            f"{cfg.host}:{cfg.ports.prometheus}",
            retention="35d",  # a 30-day SLO period plus margin
            flags=(
                f"--web.external-url={self.url('prometheus')}",
                "--web.enable-lifecycle",  # curl -X POST .../-/reload after editing rules
                "--enable-feature=exemplar-storage",
            ),
        )
        self.supervisor.start("prometheus", argv, env=self._base_env())

    def _start_dashboard(self) -> None:
        cfg = self.config
        argv = [
            sys.executable, "-m", "slolab", "dashboard",
            "--file", str(cfg.repo / "slos.yaml"),
            "--prometheus", self.url("prometheus"),
            "--host", cfg.host, "--port", str(cfg.ports.dashboard),
            "--refresh", f"{cfg.dashboard_refresh:g}",
            "--gameday-state", str(self.gameday_state),
        ]  # fmt: skip
        if self.traces == "store":
            argv += ["--traces-db", str(self.trace_store_path)]
        elif self.traces == "jaeger":
            argv += ["--jaeger-url", self.url("jaeger")]
        self.gameday_state.unlink(missing_ok=True)  # a previous lab's game day is over
        self.supervisor.start("dashboard", argv, env=self._base_env(), cwd=cfg.repo)
        self._wait("dashboard", f"{self.url('dashboard')}/healthz")

    def _start_locust(self) -> None:
        cfg = self.config
        locustfile = cfg.repo / "loadgen" / "locustfile.py"
        if not locustfile.is_file():
            raise LabError(f"{locustfile} is missing; start without load: LOAD=0")
        env = self._base_env()
        env.update(
            {
                "SCENARIO": cfg.scenario,
                "TASKS_URL": self.url("tasks"),
                "PREDICTOR_URL": self.url("predictor"),
            }
        )
        argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--host", self.url("tasks")]
        if cfg.locust_ui:
            argv += ["--web-host", cfg.host, "--web-port", str(cfg.ports.locust), "--autostart"]
        else:
            argv += ["--headless", "--only-summary"]
        self.supervisor.start("locust", argv, env=env, cwd=cfg.repo)
        if cfg.locust_ui:
            self._wait("locust", f"{self.url('locust')}/")
        else:
            time.sleep(1.0)
            self.check()

    def _wait(self, name: str, url: str) -> None:
        try:
            took = self.supervisor.wait_ready(name, url, timeout=self.config.ready_timeout)
        except NotReadyError as exc:
            raise LabError(str(exc)) from None
        self.ready_seconds[name] = round(took, 2)
        self.echo(f"lab: {name:12} ready at {self.url(name)} ({took:.1f}s)")

    def _alert(self, note: Notification) -> None:
        line = format_notification(note)
        with open(self.dir / "logs" / "alerts.log", "a") as fh:
            fh.write(json.dumps({"receiver": note.receiver, "alerts": note.alerts}) + "\n")
        if self.on_alert is not None:
            self.on_alert(note)
        else:
            self.echo(line)

    def _write_state(self) -> None:
        state: dict[str, Any] = {
            "started_at": time.time(),
            "ports": self.config.ports.as_dict(),
            "pids": {p.name: p.pid for p in self.supervisor.procs},
            "dropped_jobs": getattr(self, "dropped_jobs", []),
            "traces": {"mode": self.traces, "otlp_endpoint": self.otlp_endpoint},
        }
        (self.dir / "lab.json").write_text(json.dumps(state, indent=2))


def _targets_port(job: dict[str, Any], port: int) -> bool:
    return any(f":{port}" in s for s in render.job_strings(job))


def fast_config(lab_dir: Path, ports: dict[str, int], **kw: Any) -> LabConfig:
    """A config for tests: free ports, short intervals, fast alert routing, no Locust."""
    from slolab.lab.config import Ports

    base = LabConfig(
        lab_dir=lab_dir,
        ports=Ports(**ports),
        load=False,
        scrape_interval="2s",
        evaluation_interval="2s",
        fast_alerts=True,
        dashboard_refresh=2.0,
        ready_timeout=ready_timeout(),
        stop_timeout=5.0,
    )
    return replace(base, **kw)
