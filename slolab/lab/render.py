"""Native copies of the stack's configuration, rendered into the lab folder.

The committed files under ``prometheus/`` and ``alertmanager/`` are written for
docker compose (hostnames ``tasks:8081``, ``blackbox:9115`` ...). The lab maps
those hostnames to ``127.0.0.1`` and its own ports, keeps every job name (the
recording rules and dashboards select on ``job``), drops jobs whose target does
not run natively (cAdvisor, Grafana; Jaeger's job scrapes the lab's trace receiver
or a Jaeger binary instead) and never edits the committed files.
"""

from __future__ import annotations

import copy
import glob
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from slolab.contract import PORTS

__all__ = [
    "BLACKBOX_FALLBACK",
    "counts_its_interval",
    "dropped_jobs",
    "job_strings",
    "map_address",
    "render_alertmanager",
    "render_jaeger",
    "render_prometheus",
    "render_rule_files",
    "resolve_config_path",
]

# Compose service names (and their common spellings) -> lab component.
HOST_ALIASES: dict[str, str] = {
    "tasks": "tasks",
    "predictor": "predictor",
    "prometheus": "prometheus",
    "alertmanager": "alertmanager",
    "blackbox": "blackbox",
    "blackbox-exporter": "blackbox",
    "blackbox_exporter": "blackbox",
}
# Default port -> component, for self-scrapes written as localhost:9090.
_DEFAULT_PORTS: dict[int, str] = {
    PORTS[name]: name for name in ("tasks", "predictor", "prometheus", "alertmanager", "blackbox")
}
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
_ADDRESS = re.compile(r"(?P<host>\[?[A-Za-z0-9_.:-]*?[A-Za-z0-9_\]-]):(?P<port>\d{1,5})\b")
# Where compose mounts ./prometheus and ./alertmanager inside the containers.
_MOUNTS = ("/etc/prometheus/", "/etc/alertmanager/")

BLACKBOX_FALLBACK: dict[str, Any] = {
    "modules": {
        "http_2xx": {
            "prober": "http",
            "timeout": "5s",
            "http": {"method": "GET", "valid_status_codes": [], "preferred_ip_protocol": "ip4"},
        }
    }
}


def map_address(
    text: str,
    ports: Mapping[str, int],
    host: str = "127.0.0.1",
    extra: Mapping[str, int] | None = None,
) -> str:
    """Rewrite every ``compose-host:port`` in ``text`` to the lab's ``host:port``.

    ``extra`` maps more compose hosts to a lab port whatever their compose port
    (``{"jaeger": 9417}``: the lab's trace receiver serves what Jaeger's :8888 did).
    """

    def sub(m: re.Match[str]) -> str:
        name, port = m.group("host"), int(m.group("port"))
        if extra and name in extra:
            return f"{host}:{extra[name]}"
        component = HOST_ALIASES.get(name)
        if component is None and name in _LOCAL_HOSTS:
            component = _DEFAULT_PORTS.get(port)
        if component is None or component not in ports:
            return m.group(0)
        return f"{host}:{ports[component]}"

    return _ADDRESS.sub(sub, text)


def _foreign_hosts(text: str, extra: Mapping[str, int] | None = None) -> set[str]:
    """Hosts named in ``text`` that the lab does not run (nor this machine)."""
    hosts = {m.group("host") for m in _ADDRESS.finditer(text)}
    return hosts - _LOCAL_HOSTS - set(HOST_ALIASES) - set(extra or ())


def job_strings(job: Mapping[str, Any]) -> list[str]:
    """Every address-bearing string of a scrape job: targets and relabel replacements."""
    out: list[str] = []
    for sc in job.get("static_configs") or []:
        out.extend(str(t) for t in sc.get("targets") or [])
    for rc in job.get("relabel_configs") or []:
        if "replacement" in rc:
            out.append(str(rc["replacement"]))
    return out


def _is_native(job: Mapping[str, Any], extra: Mapping[str, int] | None = None) -> bool:
    discovery = [k for k in job if k.endswith("_sd_configs") and k != "static_configs"]
    if discovery:
        return False  # docker/kubernetes discovery has nothing to find here
    return not any(_foreign_hosts(s, extra) for s in job_strings(job))


def _map_tree(
    node: Any, ports: Mapping[str, int], host: str, extra: Mapping[str, int] | None = None
) -> Any:
    if isinstance(node, str):
        return map_address(node, ports, host, extra)
    if isinstance(node, list):
        return [_map_tree(v, ports, host, extra) for v in node]
    if isinstance(node, dict):
        return {k: _map_tree(v, ports, host, extra) for k, v in node.items()}
    return node


def resolve_config_path(entry: str, base: Path) -> str:
    """A path as compose sees it (``/etc/prometheus/rules/x.yml``) -> a path in the checkout."""
    for mount in _MOUNTS:
        if entry.startswith(mount):
            return str(base / entry[len(mount) :])
    p = Path(entry)
    return str(p if p.is_absolute() else base / p)


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    total = 0.0
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", duration):
        total += float(num) * units[unit]
    if total <= 0:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return total


def render_prometheus(
    source: Mapping[str, Any],
    *,
    ports: Mapping[str, int],
    config_dir: Path,
    rule_files: list[str] | None = None,
    host: str = "127.0.0.1",
    scrape_interval: str | None = None,
    evaluation_interval: str | None = None,
    extra_hosts: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Return the native Prometheus config for a compose-style ``source`` config.

    ``config_dir`` is the folder of the committed ``prometheus.yml`` (relative and
    ``/etc/prometheus/`` paths resolve against it); ``rule_files`` replaces the
    rule file list (tests point it at rewritten copies); ``extra_hosts`` are more
    compose hosts the lab runs, at these ports (see :func:`map_address`).
    """
    cfg = copy.deepcopy(dict(source))
    kept = [job for job in cfg.get("scrape_configs") or [] if _is_native(job, extra_hosts)]
    cfg["scrape_configs"] = [_map_tree(job, ports, host, extra_hosts) for job in kept]

    alerting = cfg.get("alerting") or {}
    managers = []
    for am in alerting.get("alertmanagers") or []:
        am = _map_tree(am, ports, host)
        targets = [t for sc in am.get("static_configs") or [] for t in sc.get("targets") or []]
        if targets and not any(_foreign_hosts(t) for t in targets):
            managers.append(am)
    if alerting:
        alerting["alertmanagers"] = managers
        cfg["alerting"] = alerting

    if rule_files is None:
        rule_files = [resolve_config_path(str(r), config_dir) for r in cfg.get("rule_files") or []]
    cfg["rule_files"] = rule_files

    glob_cfg = cfg.setdefault("global", {})
    if scrape_interval:
        glob_cfg["scrape_interval"] = scrape_interval
        limit = _seconds(scrape_interval)
        for job in cfg["scrape_configs"]:
            job["scrape_interval"] = scrape_interval
            if "scrape_timeout" in job and _seconds(str(job["scrape_timeout"])) > limit:
                job["scrape_timeout"] = scrape_interval
        if _seconds(str(glob_cfg.get("scrape_timeout", "10s"))) > limit:
            glob_cfg["scrape_timeout"] = scrape_interval
    if evaluation_interval:
        glob_cfg["evaluation_interval"] = evaluation_interval
    return cfg


def dropped_jobs(
    source: Mapping[str, Any], extra_hosts: Mapping[str, int] | None = None
) -> list[str]:
    """Names of the jobs :func:`render_prometheus` leaves out (not runnable natively)."""
    jobs = source.get("scrape_configs") or []
    return [j.get("job_name", "?") for j in jobs if not _is_native(j, extra_hosts)]


_RANGE = re.compile(r"\[(\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y))\]")


def counts_its_interval(group: Mapping[str, Any]) -> bool:
    """Whether every range a group's rules read is exactly its interval (the SLO aggregates).

    Such a group records each stretch of time once (rates over the 5 minutes
    before, every 5 minutes), and sums of its samples count every event once.
    Evaluated more often it would count each event interval ÷ step times, and
    more than history backfilled at its real interval.
    """
    interval = group.get("interval")
    ranges = {m for r in group.get("rules") or [] for m in _RANGE.findall(str(r.get("expr", "")))}
    return bool(interval and ranges) and {_seconds(w) for w in ranges} == {_seconds(str(interval))}


# In test mode the aggregates record over this window, every this long: short enough
# for period figures within a test's first minute, long enough for increase() to
# see many samples at the test scrape interval (2 s).
TEST_AGGREGATE_WINDOW = "30s"


def _retime(group: dict[str, Any], window: str) -> None:
    """Record over ``window`` every ``window``: interval and ranges change together."""

    def new_range(m: re.Match[str]) -> str:
        return f"[{window}]" if _seconds(m.group(1)) == _seconds(str(group["interval"])) else m[0]

    for rule in group.get("rules") or []:
        rule["expr"] = _RANGE.sub(new_range, str(rule["expr"]))
    group["interval"] = window


def render_rule_files(
    patterns: list[str], dest: Path, *, interval: str | None
) -> tuple[list[str], list[Path]]:
    """Copy the rule files matched by ``patterns`` into ``dest``, overriding group intervals.

    Groups that record over exactly their own interval (see
    :func:`counts_its_interval`) get :data:`TEST_AGGREGATE_WINDOW` as both, so
    each event is still counted once. Returns the new rule_files list and the
    copies. Used in test mode only: the committed rule files are never changed.
    """
    dest.mkdir(parents=True, exist_ok=True)
    copies: list[Path] = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            doc = yaml.safe_load(Path(path).read_text()) or {}
            if interval:
                for group in doc.get("groups") or []:
                    if counts_its_interval(group):
                        _retime(group, TEST_AGGREGATE_WINDOW)
                    else:
                        group["interval"] = interval
            out = dest / Path(path).name
            if out in copies:
                raise ValueError(f"two rule files named {out.name}: {path}")
            out.write_text(yaml.safe_dump(doc, sort_keys=False))
            copies.append(out)
    return [str(dest / "*.yml"), str(dest / "*.yaml")], copies


_INTEGRATIONS = (
    "email_configs",
    "pagerduty_configs",
    "slack_configs",
    "webhook_configs",
    "opsgenie_configs",
    "victorops_configs",
    "pushover_configs",
    "wechat_configs",
    "sns_configs",
    "telegram_configs",
    "discord_configs",
    "webex_configs",
    "msteams_configs",
)
_FAST_ROUTE = {"group_wait": "1s", "group_interval": "2s", "repeat_interval": "1m"}


def _fast_routes(route: dict[str, Any], *, root: bool = True) -> None:
    # Child routes inherit the root's timing unless they set their own.
    for key, value in _FAST_ROUTE.items():
        if root or key in route:
            route[key] = value
    for child in route.get("routes") or []:
        _fast_routes(child, root=False)


def render_alertmanager(
    source: Mapping[str, Any], *, webhook_url: str, fast: bool = False
) -> dict[str, Any]:
    """Return an Alertmanager config that delivers every notification to ``webhook_url``.

    Routes, grouping and inhibition stay as committed; each receiver keeps its
    name (the webhook payload carries it, so the lab shows "page -> pagerduty")
    but its integrations are replaced: PagerDuty and Slack keys do not exist in
    a lab, and a page must still be seen.
    """
    cfg = copy.deepcopy(dict(source))
    receivers = cfg.get("receivers") or []
    if not receivers:
        raise ValueError("alertmanager config has no receivers")
    for rcv in receivers:
        for key in _INTEGRATIONS:
            rcv.pop(key, None)
        rcv["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
    # Keys and templates of the real integrations refer to files the lab lacks.
    cfg["global"] = {k: v for k, v in (cfg.get("global") or {}).items() if k == "resolve_timeout"}
    if not cfg["global"]:
        cfg.pop("global")
    cfg.pop("templates", None)
    route = cfg.setdefault("route", {"receiver": receivers[0]["name"]})
    if fast:
        _fast_routes(route)
    return cfg


def render_jaeger(
    source: Mapping[str, Any], *, host: str, otlp: int, ui: int, metrics: int, internal: list[int]
) -> dict[str, Any]:
    """The compose Jaeger v2 config on the lab's ports: OTLP/HTTP on ``otlp``, UI on ``ui``.

    OTLP over gRPC is left out (the services export over HTTP); the query gRPC
    API and the health check get the two ``internal`` ports, the self-metrics
    (the Prometheus job ``jaeger``) ``metrics``.
    """
    cfg = copy.deepcopy(dict(source))
    cfg.setdefault("receivers", {})["otlp"] = {
        "protocols": {"http": {"endpoint": f"{host}:{otlp}"}}
    }
    ext = cfg.setdefault("extensions", {})
    query = ext.setdefault("jaeger_query", {})
    query["http"] = {"endpoint": f"{host}:{ui}"}
    query["grpc"] = {"endpoint": f"{host}:{internal[0]}"}
    if "healthcheckv2" in ext:
        ext["healthcheckv2"].setdefault("http", {})["endpoint"] = f"{host}:{internal[1]}"
    telemetry = cfg.setdefault("service", {}).setdefault("telemetry", {})
    telemetry.setdefault("metrics", {})["readers"] = [
        {"pull": {"exporter": {"prometheus": {"host": host, "port": metrics}}}}
    ]
    return cfg
