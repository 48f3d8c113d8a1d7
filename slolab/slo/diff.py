"""What a change to ``slos.yaml`` does, as a pull-request comment.

``slolab slo diff OLD NEW`` compares two versions of the SLO file (paths, or
``REV:path`` read with ``git show``): the SLOs added, removed or changed (by
field), the generated recording rules and alerts added, removed or changed
(both versions rendered in process by the generators, so the comparison is
of what Prometheus would load), the other generated files that change, and,
given a Prometheus, the error budget each added or changed SLO would have
had over its last period on the real data under the old and the new
definition.
"""

from __future__ import annotations

import difflib
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from slolab.slo import budget
from slolab.slo.durations import format_duration
from slolab.slo.model import SLO, from_spec
from slolab.slo.query import Prometheus, counts_queries
from slolab.slo.spec import SLOFileSpec, SpecError, parse_spec
from slolab.slo.views import percent

if TYPE_CHECKING:
    from slolab.slo.generate import Registry

__all__ = [
    "BudgetWhatIf",
    "FileChange",
    "RuleChange",
    "SLOChange",
    "SpecDiff",
    "Version",
    "budgets",
    "compare",
    "read_version",
    "to_markdown",
]

# Fields whose change does not change what is measured or alerted on.
_PAPER_FIELDS = frozenset({"description", "owner", "review"})


@dataclass(frozen=True)
class Version:
    label: str  # how the user named it
    spec: SLOFileSpec
    slos: tuple[SLO, ...]


@dataclass(frozen=True)
class SLOChange:
    name: str
    change: str  # added, removed, changed
    fields: tuple[str, ...] = ()  # dotted paths of the changed fields

    @property
    def measured(self) -> bool:
        """True when the change alters what is measured or alerted on."""
        return self.change != "changed" or any(
            f.split(".")[0] not in _PAPER_FIELDS for f in self.fields
        )


@dataclass(frozen=True)
class RuleChange:
    kind: str  # record, alert
    name: str
    slo: str  # "" for per-service rules
    group: str
    change: str  # added, removed, changed
    old_expr: str | None = None
    new_expr: str | None = None


@dataclass(frozen=True)
class FileChange:
    path: str
    change: str


@dataclass(frozen=True)
class BudgetWhatIf:
    name: str
    period: str
    old_sli: float | None  # None: not in that version, or no data
    new_sli: float | None
    old_objective: float | None
    new_objective: float | None

    @staticmethod
    def _left(sli: float | None, objective: float | None) -> float | None:
        if sli is None or objective is None:
            return None
        return budget.remaining_budget(sli, objective)

    @property
    def old_remaining(self) -> float | None:
        return self._left(self.old_sli, self.old_objective)

    @property
    def new_remaining(self) -> float | None:
        return self._left(self.new_sli, self.new_objective)


@dataclass(frozen=True)
class SpecDiff:
    old: Version
    new: Version
    slos: tuple[SLOChange, ...]
    rules: tuple[RuleChange, ...]
    files: tuple[FileChange, ...]
    budgets: tuple[BudgetWhatIf, ...] | None = None  # None: no Prometheus asked

    @property
    def empty(self) -> bool:
        return not (self.slos or self.rules or self.files)


def read_version(ref: str, cwd: Path | None = None) -> Version:
    """Load a version of the SLO file: a path, or ``REV:path`` from git (``main:slos.yaml``)."""
    path = Path(ref)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    elif ":" in ref:
        proc = subprocess.run(["git", "show", ref], capture_output=True, text=True,
                              cwd=cwd, check=False)  # fmt: skip
        if proc.returncode != 0:
            raise SpecError(f"{ref}: not a file, and git show failed: {proc.stderr.strip()}")
        text = proc.stdout
    else:
        raise SpecError(f"{ref}: no such file (give a path or REV:path, e.g. main:slos.yaml)")
    spec = parse_spec(text, source=ref)
    return Version(ref, spec, tuple(from_spec(spec, source=ref)))


def _changed_fields(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in dict.fromkeys([*old, *new]):
            out += _changed_fields(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def _slo_changes(old: SLOFileSpec, new: SLOFileSpec) -> list[SLOChange]:
    before = {s.name: s.model_dump(mode="json") for s in old.slos}
    after = {s.name: s.model_dump(mode="json") for s in new.slos}
    out = []
    for name in dict.fromkeys([*before, *after]):
        if name not in after:
            out.append(SLOChange(name, "removed"))
        elif name not in before:
            out.append(SLOChange(name, "added"))
        elif fields := _changed_fields(before[name], after[name]):
            out.append(SLOChange(name, "changed", tuple(fields)))
    return out


def _rendered(slos: Sequence[SLO], registry: Registry | None) -> dict[str, str]:
    from slolab.slo.generate import GenerateOptions, outputs

    files: dict[str, str] = {}
    for output in outputs(registry):
        files.update(output.render(slos, GenerateOptions()))
    return files


def _rules(files: dict[str, str]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    from slolab.slo import conventions as c
    from slolab.slo.generate.rules import RULES_DIR

    rules = {}
    for path, text in files.items():
        if not path.startswith(RULES_DIR):
            continue
        for group in yaml.safe_load(text).get("groups") or []:
            for rule in group.get("rules") or []:
                kind = "alert" if "alert" in rule else "record"
                slo = (rule.get("labels") or {}).get(c.LABEL_SLO, "")
                rules[(kind, rule[kind], slo, group["name"])] = rule
    return rules


def _rule_changes(old: dict[str, str], new: dict[str, str]) -> list[RuleChange]:
    before, after = _rules(old), _rules(new)
    out = []
    for key in sorted(set(before) | set(after), key=lambda k: (k[2], k[0], k[1], k[3])):
        kind, name, slo, group = key
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        change = "added" if a is None else "removed" if b is None else "changed"
        out.append(RuleChange(kind, name, slo, group, change,
                              a and a["expr"].strip(), b and b["expr"].strip()))  # fmt: skip
    return out


def compare(old: Version, new: Version, registry: Registry | None = None) -> SpecDiff:
    """The changes from ``old`` to ``new`` (no Prometheus needed).

    The files compared are the built-in outputs' and the ``registry``'s.
    """
    from slolab.slo.generate.rules import RULES_DIR

    old_files, new_files = _rendered(old.slos, registry), _rendered(new.slos, registry)
    files = []
    for path in sorted(set(old_files) | set(new_files)):
        if path.startswith(RULES_DIR) or old_files.get(path) == new_files.get(path):
            continue
        change = ("added" if path not in old_files
                  else "removed" if path not in new_files else "changed")  # fmt: skip
        files.append(FileChange(path, change))
    return SpecDiff(old, new, tuple(_slo_changes(old.spec, new.spec)),
                    tuple(_rule_changes(old_files, new_files)), tuple(files))  # fmt: skip


def _sli(prom: Prometheus, slo: SLO, at: datetime) -> float | None:
    good_q, total_q = counts_queries(slo, slo.period)
    good, total = prom.value(good_q, at), prom.value(total_q, at)
    if good is None or not total:
        return None
    return min(max(good / total, 0.0), 1.0)


def budgets(prom: Prometheus, diff: SpecDiff, end: datetime | None = None) -> SpecDiff:
    """``diff`` with, per added or measurably changed SLO, its budget under both versions."""
    from dataclasses import replace

    end = end or datetime.now(UTC)
    old = {s.name: s for s in diff.old.slos}
    new = {s.name: s for s in diff.new.slos}
    rows = []
    for change in diff.slos:
        if change.change == "removed" or not change.measured:
            continue
        a, b = old.get(change.name), new.get(change.name)
        assert b is not None
        rows.append(
            BudgetWhatIf(
                change.name, format_duration(b.period),
                None if a is None else _sli(prom, a, end), _sli(prom, b, end),
                None if a is None else a.objective, b.objective,
            )
        )  # fmt: skip
    return replace(diff, budgets=tuple(rows))


# --- markdown ------------------------------------------------------------------------


def _expr_diff(old: str | None, new: str | None) -> list[str]:
    """A ``diff`` block of the two expressions, indented to sit inside a list item."""
    lines = difflib.unified_diff((old or "").splitlines(), (new or "").splitlines(),
                                 lineterm="", n=2)  # fmt: skip
    body = [x for x in lines if not x.startswith(("---", "+++", "@@"))]
    return ["", "  ```diff", *(f"  {x}" for x in body), "  ```"]


def to_markdown(diff: SpecDiff) -> str:
    out = [f"### SLO change: `{diff.old.label}` → `{diff.new.label}`", ""]
    if diff.empty:
        return "\n".join([*out, "No change to the SLOs or to anything generated from them.", ""])
    if diff.slos:
        out += ["| SLO | change | fields |", "|---|---|---|"]
        for s in diff.slos:
            fields = ", ".join(f"`{f}`" for f in s.fields)
            out.append(f"| {s.name} | {s.change} | {fields} |")
        out.append("")
    counts = {k: sum(r.change == k for r in diff.rules) for k in ("added", "changed", "removed")}
    out.append(
        f"**Rules and alerts:** {counts['added']} added, {counts['changed']} changed, "
        f"{counts['removed']} removed."
    )
    if diff.rules:
        out += ["", "<details><summary>rules</summary>", ""]
        for r in diff.rules:
            where = f" ({r.slo})" if r.slo else f" (group {r.group})"
            out.append(f"- **{r.change}** {r.kind} `{r.name}`{where}")
            if r.change == "changed":
                out += _expr_diff(r.old_expr, r.new_expr)
        out += ["", "</details>"]
    if diff.files:
        out += ["", "**Other generated files:** "
                + ", ".join(f"`{f.path}` ({f.change})" for f in diff.files)]  # fmt: skip
    out.append("")
    if diff.budgets is None:
        out.append("_Budget on real data left out: no Prometheus given (`--prometheus`)._")
    elif diff.budgets:
        out += [
            "**Error budget over the last period on real data** (remaining; negative = overspent):",
            "",
            "| SLO | period | SLI before | objective before | budget left before "
            "| SLI after | objective after | budget left after |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for b in diff.budgets:
            out.append(
                f"| {b.name} | {b.period} | {percent(b.old_sli)} "
                f"| {percent(b.old_objective, 2)} | {percent(b.old_remaining, 1)} "
                f"| {percent(b.new_sli)} | {percent(b.new_objective, 2)} "
                f"| {percent(b.new_remaining, 1)} |"
            )
    return "\n".join(out) + "\n"
