"""What every generator shares: options, the Output record, YAML and headers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from slolab.slo import conventions as c
from slolab.slo.model import SLO

__all__ = ["DEFAULT_WEBHOOK_URL", "GenerateOptions", "Output", "Renderer", "header", "to_yaml"]

# `slolab alert-receiver` on this host, at its default port. Applications set
# their own in a slolab.slo.generate.Registry (the demo: its compose service).
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:5001/alerts"
DEFAULT_SECRETS_DIR = "/etc/alertmanager/secrets"


@dataclass(frozen=True)
class GenerateOptions:
    """Inputs of the generators besides the SLOs (defaults give the committed files)."""

    source: str = "slos.yaml"
    webhook_url: str = DEFAULT_WEBHOOK_URL
    secrets_dir: str = DEFAULT_SECRETS_DIR


Renderer = Callable[[Sequence[SLO], GenerateOptions], Mapping[str, str]]


@dataclass(frozen=True)
class Output:
    """One generated artefact family: ``render`` maps repo-relative paths to file text.

    ``owns`` lists globs of files this output writes, so that a file no longer
    produced (an SLO's service renamed) is reported stale and removed.
    """

    name: str
    render: Renderer
    owns: tuple[str, ...] = ()
    description: str = ""


class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings as ``|`` blocks so PromQL stays readable."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def header(options: GenerateOptions, notes: Sequence[str] = ()) -> str:
    """Comment block that marks a file as generated (and carries generator notes)."""
    lines = [f"# {c.GENERATED_MARKER.format(source=options.source)}"]
    lines += [f"# {note}" for note in notes]
    return "\n".join(lines) + "\n"


def to_yaml(data: Any, head: str = "") -> str:
    return head + yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)
