"""bench.stack_memory's address map: every compose peer the natives' configs name is
moved to the port it runs on here, from the contract's ports (no load is generated)."""

from __future__ import annotations

import re
from pathlib import Path

from bench.sandbox import REPO, load_compose
from bench.stack_memory import NATIVE, OURS, compose_hosts


def _config_texts() -> str:
    """The repository configs compose mounts into the natives (Prometheus, Alertmanager,
    blackbox): what native_command copies and rewrites."""
    compose = load_compose({"GRAFANA_ADMIN_PASSWORD": "unused"})
    texts = []
    for name in NATIVE:
        for volume in compose["services"][name].get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("./") and (REPO / source).is_dir():
                texts += [p.read_text() for p in sorted(Path(REPO / source).rglob("*.y*ml"))]
    return "\n".join(texts)


def test_every_peer_address_in_the_native_configs_is_mapped_to_its_port_here() -> None:
    ports = {name: 40000 + n for n, name in enumerate((*OURS, *NATIVE))}
    hosts = compose_hosts(ports)
    names = "|".join(re.escape(n) for n in (*OURS, *NATIVE))
    named = set(re.findall(rf"\b(?:{names}):\d+\b", _config_texts()))
    assert named, "no compose address found: the configs moved?"
    assert named <= hosts.keys(), named - hosts.keys()
    for address, local in hosts.items():
        assert local == f"127.0.0.1:{ports[address.split(':')[0]]}"
