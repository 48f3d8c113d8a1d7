"""What a lab run needs to know: ports, folders, load, intervals.

Everything comes from one :class:`LabConfig`; :meth:`LabConfig.from_env`
builds it from environment variables (the Makefile passes ``SCENARIO``,
``LOAD``, ``LAB_DIR`` and ``RESET`` through), tests build it directly with
free ports, a temporary folder and short intervals.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, make_dataclass, replace
from datetime import timedelta
from pathlib import Path

from slolab.contract import COMPONENT_PORTS, SCENARIOS
from slolab.lab import procs
from slolab.slo.durations import parse_duration

__all__ = [
    "COMPONENT_PORTS",
    "TRACE_MODES",
    "LabConfig",
    "Ports",
    "history_length",
    "repo_root",
]

TRACE_MODES = ("auto", "store", "jaeger", "off")


def repo_root() -> Path:
    """The checkout this package runs from (configs are read from here)."""
    return Path(__file__).resolve().parents[2]


class _PortsBase:
    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        values: dict[str, int] = {}
        for name, (default, var) in COMPONENT_PORTS.items():
            raw = env.get(var) or str(default)
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise ValueError(f"{var} must be a TCP port number, got {raw!r}")
            values[name] = int(raw)
        return cls(**values)  # type: ignore[return-value]

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COMPONENT_PORTS}


# TCP ports on 127.0.0.1, one field per component of contract.COMPONENT_PORTS (a new
# component is declared there, with its default port and variable, and nowhere else).
Ports = make_dataclass(
    "Ports",
    [(name, int, field(default=port)) for name, (port, _) in COMPONENT_PORTS.items()],
    bases=(_PortsBase,),
    frozen=True,
)
Ports.__module__ = __name__  # make_dataclass(module=...) needs Python 3.12
Ports.__doc__ = "TCP ports on 127.0.0.1, one per component (contract.COMPONENT_PORTS)."


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be 1 or 0, got {raw!r}")


def _megabytes(env: Mapping[str, str], name: str, default: float) -> int:
    raw = env.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1
    if not 0.0625 <= value <= 65536:
        raise ValueError(f"{name} must be a size in MB between 0.0625 and 65536, got {raw!r}")
    return int(value * 1024 * 1024)


def history_length(raw: str) -> timedelta | None:
    """``HISTORY``: a duration up to 35d; empty or 0 means none."""
    raw = raw.strip()
    if raw in ("", "0"):
        return None
    try:
        length = parse_duration(raw)
    except ValueError:
        raise ValueError(f"HISTORY must be a duration such as 30d or 7d, got {raw!r}") from None
    if length > timedelta(days=35):
        raise ValueError(f"HISTORY={raw}: at most 35d (Prometheus keeps 35 days in the lab)")
    return length


@dataclass(frozen=True)
class LabConfig:
    """One lab run. Defaults are those of ``make lab``."""

    lab_dir: Path = field(default_factory=lambda: repo_root() / ".lab")
    ports: Ports = field(default_factory=Ports)
    host: str = "127.0.0.1"
    repo: Path = field(default_factory=repo_root)
    # Load: a Locust scenario, or none at all.
    load: bool = True
    scenario: str = "steady"
    locust_ui: bool = True  # web UI on ports.locust with --autostart, else headless
    # Start-up state.
    reset: bool = False
    admin_token: str = ""
    # Prometheus/Alertmanager timing; None keeps what the committed configs say.
    scrape_interval: str | None = None
    evaluation_interval: str | None = None
    # Short Alertmanager group_wait/group_interval/repeat_interval (tests).
    fast_alerts: bool = False
    # Where every alert notification goes; None: the lab's own receiver.
    webhook_url: str | None = None
    blackbox: bool = True
    # The browser dashboard (slolab dashboard) on ports.dashboard, updating this often.
    dashboard: bool = True
    dashboard_refresh: float = 5.0
    # More rule files to load (tests add SLO variants); copied into the lab folder.
    extra_rule_files: tuple[Path, ...] = ()
    # A generated past of this length backfilled before Prometheus starts (HISTORY=30d).
    history: timedelta | None = None
    # Traces (LAB_TRACES): "auto" runs Jaeger when a binary is found, else the lab's own
    # receiver and store; "store", "jaeger" choose; "off" exports nothing. An
    # otlp_endpoint (OTEL_EXPORTER_OTLP_ENDPOINT) sends them there and runs neither.
    traces: str = "auto"
    otlp_endpoint: str | None = None
    trace_store_bytes: int = 64 * 1024 * 1024  # LAB_TRACE_STORE_MB
    otlp_max_batch_bytes: int = 4 * 1024 * 1024  # LAB_OTLP_MAX_BATCH_MB
    ready_timeout: float = procs.DEFAULT_READY_TIMEOUT  # SLOLAB_READY_TIMEOUT
    stop_timeout: float = 10.0
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS and not self._gameday_file().is_file():
            days = sorted(p.stem for p in self._gameday_file().parent.glob("*.yaml"))
            raise ValueError(
                f"SCENARIO must be a load shape ({', '.join(SCENARIOS)}) or a game day "
                f"({', '.join(days) or 'none in scenarios/'}), got {self.scenario!r}"
            )
        if self.traces not in TRACE_MODES:
            raise ValueError(
                f"LAB_TRACES must be one of {', '.join(TRACE_MODES)}, got {self.traces!r}"
            )

    def _gameday_file(self) -> Path:
        from slolab.scenario.cli import scenario_dir

        return scenario_dir(self.repo) / f"{self.scenario}.yaml"

    @property
    def gameday(self) -> Path | None:
        """The game-day scenario SCENARIO names (docs/scenarios.md); None: a load shape."""
        return None if self.scenario in SCENARIOS else self._gameday_file()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> LabConfig:
        """Read the settings of ``make lab`` from the environment."""
        env = os.environ if env is None else env
        cfg = cls(
            lab_dir=Path(env.get("LAB_DIR") or repo_root() / ".lab").expanduser().resolve(),
            ports=Ports.from_env(env),
            load=_flag(env, "LOAD", True),
            scenario=(env.get("SCENARIO") or "steady").strip(),
            locust_ui=not _flag(env, "LAB_HEADLESS", False),
            reset=_flag(env, "RESET", False),
            admin_token=env.get("SLOLAB_ADMIN_TOKEN", ""),
            history=history_length(env.get("HISTORY", "")),
            traces=(env.get("LAB_TRACES") or "auto").strip().lower(),
            otlp_endpoint=(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip() or None,
            trace_store_bytes=_megabytes(env, "LAB_TRACE_STORE_MB", 64),
            otlp_max_batch_bytes=_megabytes(env, "LAB_OTLP_MAX_BATCH_MB", 4),
            ready_timeout=procs.ready_timeout(env),
        )
        return replace(cfg, **overrides) if overrides else cfg  # type: ignore[arg-type]

    def with_token(self) -> LabConfig:
        """Return this config with an admin token, generating one for the session if unset."""
        if self.admin_token:
            return self
        return replace(self, admin_token=secrets.token_urlsafe(24))

    def url(self, component: str) -> str:
        return f"http://{self.host}:{getattr(self.ports, component)}"

    @property
    def alert_webhook_url(self) -> str:
        return self.webhook_url or f"{self.url('webhook')}/alerts"
