"""Generate every output of ``slos.yaml`` and check that the committed ones are current.

The toolkit's own outputs (rules and alerts, Alertmanager routes) are listed
in ``OUTPUT_MODULES``, each module exposing ``OUTPUT``.
An application adds its own with :func:`register` (slolab's demo registers its
dashboards from ``slolab.demo``) and may change the defaults of
:class:`GenerateOptions` with :func:`set_defaults`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from slolab.slo import conventions as c
from slolab.slo.generate.output import DEFAULT_WEBHOOK_URL, GenerateOptions, Output
from slolab.slo.model import SLO

__all__ = [
    "DEFAULT_WEBHOOK_URL",
    "OUTPUT_MODULES",
    "GenerateOptions",
    "Output",
    "Plan",
    "default_options",
    "outputs",
    "plan",
    "register",
    "set_defaults",
]

OUTPUT_MODULES: tuple[str, ...] = (
    "slolab.slo.generate.rules",
    "slolab.slo.generate.alertmanager",
    "slolab.slo.generate.kubernetes",
)
_registered: list[Output] = []
_defaults: dict[str, str] = {}


def register(output: Output) -> Output:
    """Add an application's output (the built-in ones need not call this)."""
    if all(o.name != output.name for o in _registered):
        _registered.append(output)
    return output


def set_defaults(**options: str) -> None:
    """Change the defaults of :func:`default_options` (e.g. ``webhook_url``)."""
    unknown = set(options) - set(GenerateOptions.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown generate options: {', '.join(sorted(unknown))}")
    _defaults.update(options)


def default_options(**overrides: str) -> GenerateOptions:
    """:class:`GenerateOptions` with the application's defaults, then ``overrides``."""
    return GenerateOptions(**{**_defaults, **overrides})


def outputs() -> list[Output]:
    """Every output, built-in first."""
    found = [importlib.import_module(name).OUTPUT for name in OUTPUT_MODULES]
    return found + [o for o in _registered if o not in found]


@dataclass
class Plan:
    """The files to write (path relative to the root → text) and the ones to remove."""

    files: dict[str, str] = field(default_factory=dict)
    obsolete: list[str] = field(default_factory=list)

    def stale(self, root: Path) -> list[str]:
        """Paths whose committed content differs from what the generator produces."""
        out = []
        for rel, text in self.files.items():
            path = root / rel
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                out.append(rel)
        return out + self.obsolete

    def write(self, root: Path) -> list[str]:
        """Write changed files, remove obsolete ones; return the paths touched."""
        changed = self.stale(root)
        for rel in changed:
            path = root / rel
            if rel in self.obsolete:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.files[rel], encoding="utf-8")
        return changed


def _is_generated(path: Path) -> bool:
    marker = c.GENERATED_MARKER.split("{source}")[0]
    try:
        with path.open(encoding="utf-8") as fh:
            return marker in fh.read(400)
    except (OSError, UnicodeDecodeError):
        return False


def plan(
    slos: Sequence[SLO],
    root: Path,
    options: GenerateOptions | None = None,
    only: Sequence[str] | None = None,
) -> Plan:
    """Render the outputs (all, or those named in ``only``) for ``root``."""
    options = options or default_options()
    result = Plan()
    for output in outputs():
        if only and output.name not in only:
            continue
        for rel, text in output.render(slos, options).items():
            if rel in result.files:
                raise ValueError(f"two outputs write {rel}")
            result.files[rel] = text
        for pattern in output.owns:
            for path in sorted(root.glob(pattern)):
                rel = path.relative_to(root).as_posix()
                if rel not in result.files and _is_generated(path):
                    result.obsolete.append(rel)
    return result
