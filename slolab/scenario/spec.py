"""Game-day scenario files: the wire format, loading with line numbers, every check.

A scenario (``scenarios/NAME.yaml``, docs/scenarios.md) says what happens (load
phases, a timeline of faults) and what must follow (alerts that fire within a
bound, alerts that stay silent, budget spent per SLO). A bad file is refused
whole, with every problem as ``FILE:LINE: field: message``; nothing runs.

The names it may use are the demo's facts (load shapes and faults from
slolab/contract.py) and the SLOs of ``slos.yaml`` with their generated alerts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from slolab.contract import FAULTS, SCENARIOS, SERVICES, faults_of
from slolab.slo import conventions as c
from slolab.slo import views
from slolab.slo.durations import parse_duration
from slolab.slo.model import SLO
from slolab.slo.scorecard import AlertExpectation, BudgetExpectation
from slolab.slo.simulate import budget_detection, workbook_detection

__all__ = [
    "SHAPES",
    "AdjustmentStep",
    "FaultStep",
    "LoadPhase",
    "Scenario",
    "ScenarioError",
    "alert_severity",
    "fastest_detection",
    "json_schema",
    "load_scenario",
    "parse_scenario",
    "wire_models",
]

# Load shapes a scenario may run: the fault-free ones. budget-burn and chaos switch
# faults of their own, which would fight the scenario's timeline.
SHAPES = tuple(s for s in SCENARIOS if s not in ("budget-burn", "chaos"))
ALERTS = (c.ALERT_PAGE, c.ALERT_TICKET, c.ALERT_BUDGET_LOW, c.ALERT_BREACH)
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class ScenarioError(ValueError):
    """A scenario file that cannot run: every problem, one ``FILE:LINE: field: message`` each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# --- the model ------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadPhase:
    start: timedelta
    shape: str
    users: int
    spawn_rate: float
    assume: Mapping[str, float]  # SLO -> error ratio this load causes (predict only)


@dataclass(frozen=True)
class FaultStep:
    start: timedelta
    service: str
    settings: Mapping[str, float | int | bool]
    duration: timedelta

    @property
    def end(self) -> timedelta:
        return self.start + self.duration

    def describe(self) -> str:
        what = ", ".join(f"{k}={_setting(v)}" for k, v in self.settings.items())
        return f"{self.service} {what}"


@dataclass(frozen=True)
class AdjustmentStep:
    """Planned work declared for the run: the named SLOs' budget and pages paused."""

    start: timedelta
    duration: timedelta
    reason: str
    slos: tuple[str, ...]  # every SLO it covers (named, or of a named service)

    @property
    def end(self) -> timedelta:
        return self.start + self.duration

    def describe(self) -> str:
        return f"adjustment: {self.reason}"


def _setting(value: float | int | bool) -> str:
    return "on" if value is True else f"{value:g}"


@dataclass(frozen=True)
class Scenario:
    name: str
    lesson: str
    duration: timedelta
    load: tuple[LoadPhase, ...]
    faults: tuple[FaultStep, ...]
    alerts: tuple[AlertExpectation, ...]
    budgets: tuple[BudgetExpectation, ...]
    source: str = ""
    adjustments: tuple[AdjustmentStep, ...] = ()

    @property
    def incident_start(self) -> timedelta:
        """Where expectation bounds count from by default: the first fault, or load change."""
        if self.faults:
            return min(f.start for f in self.faults)
        later = [p.start for p in self.load if p.start > timedelta(0)]
        return min(later) if later else timedelta(0)

    def adjusted(self, slo: str) -> tuple[AdjustmentStep, ...]:
        """The scenario's adjustments that cover ``slo``."""
        return tuple(a for a in self.adjustments if slo in a.slos)

    @property
    def slos(self) -> tuple[str, ...]:
        """Every SLO the expectations name, in order of first mention."""
        names = [e.slo for e in self.alerts] + [b.slo for b in self.budgets]
        return tuple(dict.fromkeys(names))


# --- the wire format (pydantic: the JSON Schema for editors comes from it) --------------

# Checked by parse_duration (its message names the format); the pattern is for editors.
Duration = Annotated[
    str,
    Field(
        description="a Prometheus duration: 90s, 5m, 1h30m",
        json_schema_extra={"pattern": r"^(0|(\d+d)?(\d+h)?(\d+m)?(\d+s)?)$"},
    ),
]


def _fault_settings_model() -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for fault in FAULTS:
        if fault.kind == "ratio":
            fields[fault.name] = (
                float | None,
                Field(None, ge=0, le=1, description=fault.description),
            )
        elif fault.kind == "milliseconds":
            fields[fault.name] = (
                int | None,
                Field(None, ge=0, le=60_000, description=fault.description),
            )
        else:
            fields[fault.name] = (Literal[True] | None, Field(None, description=fault.description))
    return create_model("FaultSettings", __config__=ConfigDict(extra="forbid"), **fields)


FaultSettings = _fault_settings_model()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PhaseSpec(_Strict):
    at: Duration = "0s"
    shape: Literal[SHAPES]  # type: ignore[valid-type]
    users: int = Field(ge=1, le=1000, description="Locust users (LOAD_USERS)")
    spawn_rate: float | None = Field(None, gt=0, description="users started per second")
    assume: dict[str, float] = Field(
        default_factory=dict,
        description="predict only: the error ratio this load causes per SLO (offline there "
        "is no capacity model)",
    )


class FaultSpec(_Strict):
    at: Duration
    service: Literal[SERVICES]  # type: ignore[valid-type]
    set: FaultSettings  # type: ignore[valid-type]
    for_: Duration = Field(alias="for")


class AdjustSpec(_Strict):
    at: Duration
    for_: Duration = Field(alias="for")
    reason: str = Field(min_length=1, description="why: the planned work")
    slos: list[str] = Field(default_factory=list, description="SLOs it covers")
    services: list[Literal[SERVICES]] = Field(  # type: ignore[valid-type]
        default_factory=list, description="every SLO of these services (neither: all SLOs)"
    )


class FireSpec(_Strict):
    alert: Literal[ALERTS]  # type: ignore[valid-type]
    slo: str
    severity: Literal[c.SEVERITY_PAGE, c.SEVERITY_TICKET] | None = None
    within: Duration | None = None
    from_: Duration | None = Field(None, alias="from")


class SilentSpec(_Strict):
    alert: Literal[ALERTS]  # type: ignore[valid-type]
    slo: str
    severity: Literal[c.SEVERITY_PAGE, c.SEVERITY_TICKET] | None = None


class BudgetSpec(_Strict):
    slo: str
    min_percent: float | None = Field(None, ge=0)
    max_percent: float | None = Field(None, ge=0)


class ExpectSpec(_Strict):
    must_fire: list[FireSpec] = Field(default_factory=list)
    must_not_fire: list[SilentSpec] = Field(default_factory=list)
    budget: list[BudgetSpec] = Field(default_factory=list)


class ScenarioSpec(_Strict):
    name: str = Field(pattern=_NAME.pattern)
    lesson: str = Field(min_length=1)
    duration: Duration
    load: list[PhaseSpec] = Field(min_length=1)
    faults: list[FaultSpec] = Field(default_factory=list)
    adjustments: list[AdjustSpec] = Field(
        default_factory=list,
        description="budget adjustments (planned work) for the run: the covered SLOs' "
        "events leave their budget and their burn alerts do not page (docs/slo-spec.md)",
    )
    expect: ExpectSpec


def wire_models() -> type[BaseModel]:
    """The top-level wire model (its JSON Schema is ``scenarios/scenario.schema.json``)."""
    return ScenarioSpec


def json_schema() -> str:
    """The text of ``scenarios/scenario.schema.json`` (editors complete and check with it)."""
    import json

    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **ScenarioSpec.model_json_schema(by_alias=True),
    }
    schema["title"] = "slolab game-day scenario (docs/scenarios.md)"
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


# --- loading, with the line of every field --------------------------------------------------

Loc = tuple[str | int, ...]


def _line_of(doc: Any, loc: Loc) -> int:
    """1-based line of the deepest part of ``loc`` that exists in the document."""
    line, node = 1, doc
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def _field(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_WIRE_NAMES = {"for_": "for", "from_": "from"}


class _Problems:
    def __init__(self, source: str, doc: Any) -> None:
        self.source, self.doc, self.items = source, doc, []

    def add(self, loc: Loc, message: str) -> None:
        loc = tuple(_WIRE_NAMES.get(p, p) if isinstance(p, str) else p for p in loc)
        where = f"{self.source}:{_line_of(self.doc, loc)}"
        self.items.append(f"{where}: {_field(loc)}: {message}" if loc else f"{where}: {message}")


def _offset(text: str) -> timedelta:
    return timedelta(0) if text.strip() in ("0", "0s") else parse_duration(text)


def alert_severity(slo: SLO, alert: str) -> str | None:
    """The severity ``alert`` has for ``slo``; None if the SLO's policy can never fire it."""
    for policy in slo.alert_policies:
        if policy.alert == alert:
            return policy.severity if policy.conditions else None
    return c.SEVERITY_TICKET if alert in (c.ALERT_BUDGET_LOW, c.ALERT_BREACH) else None


def fastest_detection(slo: SLO, alert: str) -> timedelta | None:
    """How soon ``alert`` can fire at the earliest: every event failing, by the formula."""
    if alert in (c.ALERT_PAGE, c.ALERT_TICKET):
        return workbook_detection(slo, alert, 1.0)
    from slolab.slo.generate.alerts import budget_thresholds

    threshold = budget_thresholds(slo).get(alert)
    return None if threshold is None else budget_detection(slo, threshold, 1.0)


def parse_scenario(text: str, slos: Sequence[SLO], source: str = "scenario.yaml") -> Scenario:
    """Parse and check one scenario's text against ``slos``; raise :class:`ScenarioError`."""
    try:
        doc = YAML(typ="rt", pure=True).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ScenarioError([f"{source}:{line}: invalid YAML: {exc.problem}"]) from None
    problems = _Problems(source, doc)
    if not isinstance(doc, dict):
        raise ScenarioError(
            [f"{source}:1: expected a mapping with name, lesson, duration, load, faults and expect"]
        )
    try:
        spec = ScenarioSpec.model_validate(doc)
    except ValidationError as exc:
        for err in exc.errors():
            msg = {"extra_forbidden": "unknown field", "missing": "required field missing"}.get(
                err["type"], err["msg"]
            )
            if err["type"] == "literal_error":
                msg = f"{err['input']!r} is not one of {err['ctx']['expected']}"
            problems.add(tuple(p for p in err["loc"] if not str(p).startswith("function")), msg)
        raise ScenarioError(problems.items) from None
    scenario = _check(spec, {s.name: s for s in slos}, problems, source)
    if problems.items:
        raise ScenarioError(problems.items)
    assert scenario is not None
    return scenario


def load_scenario(path: str | Path, slos: Sequence[SLO]) -> Scenario:
    """Read and check a scenario file (see :func:`parse_scenario`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    scenario = parse_scenario(text, slos, source=str(path))
    if scenario.name != path.stem:
        doc = YAML(typ="rt", pure=True).load(text)
        raise ScenarioError(
            [
                f"{path}:{_line_of(doc, ('name',))}: name: {scenario.name!r} must "
                f"be the file's name ({path.stem!r})"
            ]
        )
    return scenario


# --- the checks beyond the format --------------------------------------------------------------


def _duration(p: _Problems, loc: Loc, text: str, zero_ok: bool = False) -> timedelta | None:
    try:
        return _offset(text) if zero_ok else parse_duration(text)
    except ValueError as exc:
        p.add(loc, str(exc))
        return None


def _known_slo(p: _Problems, loc: Loc, name: str, slos: Mapping[str, SLO]) -> SLO | None:
    if name not in slos:
        p.add(loc, f"unknown SLO {name!r} (slos.yaml has {', '.join(slos)})")
        return None
    return slos[name]


def _check(
    spec: ScenarioSpec, slos: Mapping[str, SLO], p: _Problems, source: str
) -> Scenario | None:
    duration = _duration(p, ("duration",), spec.duration)
    phases = _phases(spec, slos, p, duration)
    faults = _faults(spec, p, duration)
    adjustments = _adjustments(spec, slos, p, duration)
    if duration is None:
        return None
    scenario = Scenario(
        spec.name, spec.lesson.strip(), duration, tuple(phases), tuple(faults), (), (), source
    )
    alerts = _alert_expectations(spec, slos, p, scenario)
    budgets = _budget_expectations(spec, slos, p, duration)
    return Scenario(
        spec.name,
        spec.lesson.strip(),
        duration,
        tuple(phases),
        tuple(faults),
        tuple(alerts),
        tuple(budgets),
        source,
        tuple(adjustments),
    )


def _phases(
    spec: ScenarioSpec, slos: Mapping[str, SLO], p: _Problems, duration: timedelta | None
) -> list[LoadPhase]:
    phases: list[LoadPhase] = []
    for i, ph in enumerate(spec.load):
        at = _duration(p, ("load", i, "at"), ph.at, zero_ok=True)
        if at is None:
            continue
        if i == 0 and at != timedelta(0):
            p.add(("load", 0, "at"), "the first phase starts at 0s")
        if phases and at <= phases[-1].start:
            p.add(
                ("load", i, "at"),
                f"must come after the previous phase ({views.duration(phases[-1].start)})",
            )
        if duration is not None and at >= duration:
            p.add(("load", i, "at"), f"starts after the scenario ends ({views.duration(duration)})")
        for slo, ratio in ph.assume.items():
            if _known_slo(p, ("load", i, "assume", slo), slo, slos) and not 0 <= ratio <= 1:
                p.add(("load", i, "assume", slo), f"an error ratio from 0 to 1, got {ratio:g}")
        phases.append(
            LoadPhase(at, ph.shape, ph.users, ph.spawn_rate or float(ph.users), dict(ph.assume))
        )
    return phases


def _faults(spec: ScenarioSpec, p: _Problems, duration: timedelta | None) -> list[FaultStep]:
    steps: list[tuple[int, FaultStep]] = []
    for i, f in enumerate(spec.faults):
        at = _duration(p, ("faults", i, "at"), f.at, zero_ok=True)
        length = _duration(p, ("faults", i, "for"), f.for_)
        settings = f.set.model_dump(exclude_none=True)
        if not settings:
            p.add(
                ("faults", i, "set"),
                f"names no fault (one of {', '.join(x.name for x in faults_of(f.service))})",
            )
        allowed = {x.name for x in faults_of(f.service)}
        for name in settings:
            if name not in allowed:
                p.add(
                    ("faults", i, "set", name),
                    f"{f.service} has no fault {name!r} (it has {', '.join(sorted(allowed))})",
                )
        if at is None or length is None:
            continue
        step = FaultStep(at, f.service, settings, length)
        if duration is not None and step.end > duration:
            p.add(
                ("faults", i, "for"),
                f"ends at {views.duration(step.end)}, "
                f"past the scenario's end ({views.duration(duration)})",
            )
        for j, other in steps:
            same = set(other.settings) & set(settings)
            if other.service == f.service and same and at < other.end and other.start < step.end:
                p.add(
                    ("faults", i, "at"),
                    f"{', '.join(sorted(same))} on {f.service} overlaps "
                    f"itself: faults[{j}] runs "
                    f"{views.duration(other.start)}-{views.duration(other.end)}",
                )
        steps.append((i, step))
    return [s for _, s in steps]


def _adjustments(
    spec: ScenarioSpec, slos: Mapping[str, SLO], p: _Problems, duration: timedelta | None
) -> list[AdjustmentStep]:
    out = []
    for i, a in enumerate(spec.adjustments):
        loc: Loc = ("adjustments", i)
        at = _duration(p, (*loc, "at"), a.at, zero_ok=True)
        length = _duration(p, (*loc, "for"), a.for_)
        for j, name in enumerate(a.slos):
            _known_slo(p, (*loc, "slos", j), name, slos)
        covered = tuple(
            s.name
            for s in slos.values()
            if (not a.slos and not a.services) or s.name in a.slos or s.service in a.services
        )
        if at is None or length is None:
            continue
        step = AdjustmentStep(at, length, a.reason.strip(), covered)
        if duration is not None and step.end > duration:
            p.add(
                (*loc, "for"),
                f"ends at {views.duration(step.end)}, "
                f"past the scenario's end ({views.duration(duration)})",
            )
        out.append(step)
    return out


def _alert_expectations(
    spec: ScenarioSpec, slos: Mapping[str, SLO], p: _Problems, scenario: Scenario
) -> list[AlertExpectation]:
    out: list[AlertExpectation] = []
    entries: Iterable[tuple[str, int, FireSpec | SilentSpec]] = [
        *(("must_fire", i, e) for i, e in enumerate(spec.expect.must_fire)),
        *(("must_not_fire", i, e) for i, e in enumerate(spec.expect.must_not_fire)),
    ]
    seen: dict[tuple[str, str], tuple[str, int]] = {}
    for kind, i, e in entries:
        loc: Loc = ("expect", kind, i)
        slo = _known_slo(p, (*loc, "slo"), e.slo, slos)
        fire = kind == "must_fire"
        if (e.alert, e.slo) in seen:
            other, j = seen[(e.alert, e.slo)]
            why = "contradicts" if other != kind else "repeats"
            p.add((*loc, "alert"), f"{why} expect.{other}[{j}] ({e.alert} for {e.slo})")
        seen[(e.alert, e.slo)] = (kind, i)
        severity = alert_severity(slo, e.alert) if slo else None
        if slo is not None and severity is None:
            p.add(
                (*loc, "alert"),
                f"{e.alert} can never fire for {e.slo}: its policy has no "
                "condition this SLO's budget can reach (slolab slo validate)",
            )
        if severity is not None and e.severity is not None and e.severity != severity:
            p.add((*loc, "severity"), f"{e.alert} for {e.slo} has severity {severity}")
        within = origin = None
        if isinstance(e, FireSpec):
            origin = scenario.incident_start
            if e.from_ is not None:
                origin = _duration(p, (*loc, "from"), e.from_, zero_ok=True)
            if e.within is not None:
                within = _duration(p, (*loc, "within"), e.within)
            if origin is not None and origin >= scenario.duration:
                end = views.duration(scenario.duration)
                p.add((*loc, "from"), f"after the scenario's end ({end})")
            elif origin is not None and within is not None and slo is not None and severity:
                _reachable(p, loc, slo, e.alert, origin, within, scenario.duration)
        out.append(
            AlertExpectation(
                e.alert, e.slo, fire, e.severity or severity, within, origin or timedelta(0)
            )
        )
    return out


def _reachable(
    p: _Problems,
    loc: Loc,
    slo: SLO,
    alert: str,
    origin: timedelta,
    within: timedelta,
    duration: timedelta,
) -> None:
    if origin + within > duration:
        p.add(
            (*loc, "within"),
            f"{views.duration(origin)} + {views.duration(within)} is past the scenario's "
            f"end ({views.duration(duration)}): it could not be seen",
        )
    fastest = fastest_detection(slo, alert)
    if fastest is not None and within < fastest:
        p.add(
            (*loc, "within"),
            f"can never hold: even with every event failing, {alert} for "
            f"{slo.name} needs {fastest.total_seconds():.1f} s (the Workbook's formula)",
        )


def _budget_expectations(
    spec: ScenarioSpec, slos: Mapping[str, SLO], p: _Problems, duration: timedelta | None
) -> list[BudgetExpectation]:
    out = []
    for i, b in enumerate(spec.expect.budget):
        loc: Loc = ("expect", "budget", i)
        slo = _known_slo(p, (*loc, "slo"), b.slo, slos)
        low, high = b.min_percent, b.max_percent
        if low is None and high is None:
            p.add(loc, "give min_percent, max_percent or both")
        if low is not None and high is not None and low > high:
            p.add((*loc, "min_percent"), f"can never hold: {low:g} > max_percent {high:g}")
        if slo is not None and duration is not None and low is not None:
            # Every event of the whole scenario failing spends this much, no more.
            most = duration.total_seconds() / (slo.error_budget * slo.period.total_seconds())
            if low / 100 > most:
                p.add(
                    (*loc, "min_percent"),
                    f"can never hold: {views.duration(duration)} of total "
                    f"failure spends {most * 100:.3g}% of {slo.name}'s budget",
                )
        out.append(
            BudgetExpectation(
                b.slo, None if low is None else low / 100, None if high is None else high / 100
            )
        )
    return out
