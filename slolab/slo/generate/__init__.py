"""Generate every output of ``slos.yaml`` and check that the committed ones are current.

The toolkit's own outputs are the rules and alerts, the Alertmanager routes and
their Kubernetes wrappers. An application adds its own outputs and changes the
defaults of :class:`GenerateOptions` with a :class:`Registry` that it passes to
:func:`plan` (slolab's demo: ``slolab.demo.registry()``, its dashboards and its
alert receiver). The toolkit keeps no state between calls: what a call
generates depends on its arguments only, never on what ran before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from slolab.slo import conventions as c
from slolab.slo.generate.output import DEFAULT_WEBHOOK_URL, GenerateOptions, Output
from slolab.slo.model import SLO

__all__ = [
    "DEFAULT_WEBHOOK_URL",
    "GenerateOptions",
    "Output",
    "Plan",
    "Registry",
    "outputs",
    "plan",
]


@dataclass(frozen=True)
class Registry:
    """An application's outputs (beside the built-in ones) and its option defaults.

    Passed to :func:`plan` and :func:`outputs` like prometheus_client's
    ``registry=`` argument, but with no process-wide default that imports fill in.
    """

    extra: tuple[Output, ...] = ()
    defaults: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.defaults) - set(GenerateOptions.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown generate options: {', '.join(sorted(unknown))}")
        # Frozen all the way down: a registry cannot change behind a caller's back.
        object.__setattr__(self, "extra", tuple(self.extra))
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

    def options(self, **overrides: str) -> GenerateOptions:
        """:class:`GenerateOptions` with this registry's defaults, then ``overrides``."""
        return GenerateOptions(**{**self.defaults, **overrides})

    def outputs(self) -> list[Output]:
        """Every output, built-in first; the Kubernetes one wraps all the others."""
        # Imported here: the generators are only needed when something is generated.
        from slolab.slo.generate import alertmanager, kubernetes, rules

        others = [rules.OUTPUT, alertmanager.OUTPUT, *self.extra]
        found = [rules.OUTPUT, alertmanager.OUTPUT, kubernetes.wrapping(others), *self.extra]
        names = [o.name for o in found]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"two outputs are named {', '.join(doubled)}")
        return found


def outputs(registry: Registry | None = None) -> list[Output]:
    """Every output: the built-in ones, then the ``registry``'s."""
    return (registry or Registry()).outputs()


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
    registry: Registry | None = None,
) -> Plan:
    """Render the outputs (all, or those named in ``only``) for ``root``.

    ``options`` default to the ``registry``'s defaults.
    """
    registry = registry or Registry()
    options = options or registry.options()
    result = Plan()
    for output in registry.outputs():
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
