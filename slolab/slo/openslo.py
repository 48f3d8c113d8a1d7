"""OpenSLO v1 documents to ``slos.yaml`` and back (``slolab slo convert``).

OpenSLO (https://github.com/OpenSLO/OpenSLO, ``apiVersion: openslo/v1``) is the
vendor-neutral format; ``slos.yaml`` is what the generator reads. What maps:

- ``SLO`` with an inline ``indicator`` or an ``indicatorRef`` to an ``SLI``;
  ``ratioMetric`` (good or bad over total, Prometheus queries) becomes a ``ratio``
  SLI, or a ``latency`` SLI when ``good`` selects one histogram bucket (``le``) and
  ``total`` the same histogram's ``_count``; ``thresholdMetric`` becomes a
  ``threshold`` SLI (good while ``query op value``), its evaluations the occurrences.
- Rolling ``timeWindow`` of one of the supported periods; ``Occurrences``
  budgeting (``Timeslices`` for a ``thresholdMetric``, whose slices are slolab's
  evaluations); one objective with ``target`` or ``targetPercent``.
- ``AlertPolicy``/``AlertCondition`` burn-rate conditions onto the Workbook's
  multi-window conditions slolab generates (the condition's ``lookbackWindow`` is
  the long window; the short one is the Workbook's, 1/12 of it).
- ``DataSource`` of type ``Prometheus``; ``Service``; ``AlertNotificationTarget``.

What cannot be expressed (calendar windows, several objectives, raw ratios,
other data sources, burn conditions that are not the Workbook's...) is refused
by name; what slolab does on its own whatever the document says (it always
generates every reachable Workbook condition, routes by severity, alerts on
missing data) is reported as a warning, never dropped silently.

Fields OpenSLO has no place for (owner, review, runbook, the exact SLI kind, the
error-budget policy) travel as ``slolab.dev/*`` annotations, the place the spec
gives implementations: ``slos.yaml`` → OpenSLO → ``slos.yaml`` is lossless.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, Literal

import promql_parser
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from slolab.slo import conventions as c
from slolab.slo import promql
from slolab.slo.durations import format_duration, parse_duration
from slolab.slo.model import (
    SLO,
    BurnCondition,
    LatencySLI,
    SampleSLI,
    from_spec,
    number,
    scale_window,
)
from slolab.slo.spec import SLOFileSpec, SLOSpec, SpecError, parse_spec
from slolab.slo.spec import _UniqueKeyLoader as _Loader

__all__ = ["API_VERSION", "Conversion", "ConvertError", "from_openslo", "to_openslo"]

API_VERSION = "openslo/v1"
# Implementation-specific metadata: the spec reserves openslo.com/ and leaves
# other prefixes to implementations.
PREFIX = "slolab.dev/"
A_OWNER = PREFIX + "owner"
A_REVIEW = PREFIX + "review"
A_RUNBOOK = PREFIX + "runbook-url"
A_SLI = PREFIX + "sli"
A_POLICY = PREFIX + "policy"
A_RUNBOOK_BASE = PREFIX + "runbook-base-url"
A_SHORT_WINDOW = PREFIX + "short-window"
A_MIN_EVENTS = PREFIX + "min-events"
A_ADJUSTMENTS = PREFIX + "adjustments"
# OpenSLO has one timeWindow: an SLO's further periods (slos.yaml `periods:`) travel
# here, a JSON list; the timeWindow is the first period, the one the alerts follow.
A_PERIODS = PREFIX + "periods"
DATASOURCE = "prometheus"
# OpenSLO severities are free text: these name slolab's two (Alertmanager labels).
_SEVERITIES = {
    c.SEVERITY_PAGE: c.SEVERITY_PAGE,
    "page": c.SEVERITY_PAGE,
    c.SEVERITY_TICKET: c.SEVERITY_TICKET,
    "ticket": c.SEVERITY_TICKET,
}
_OPS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


class ConvertError(ValueError):
    """A document cannot be converted; the message names the file, object and field."""


@dataclass
class Conversion:
    text: str
    warnings: list[str] = field(default_factory=list)


# --- the OpenSLO v1 objects (the spec's field reference; unknown fields refused) --


class _O(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Name = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
Text = Annotated[str, Field(max_length=1050)]


class Metadata(_O):
    name: Name
    displayName: str | None = None
    labels: dict[str, str | list[str]] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class MetricSource(_O):
    metricSourceRef: str | None = None
    type: str | None = None
    spec: dict[str, Any]


class Metric(_O):
    metricSource: MetricSource


class RatioMetric(_O):
    counter: bool | None = None
    good: Metric | None = None
    bad: Metric | None = None
    total: Metric | None = None
    rawType: Literal["success", "failure"] | None = None
    raw: Metric | None = None


class SLIBody(_O):
    description: Text | None = None
    thresholdMetric: Metric | None = None
    ratioMetric: RatioMetric | None = None


class InlineSLI(_O):
    metadata: Metadata
    spec: SLIBody


class TimeWindow(_O):
    duration: str
    isRolling: bool | None = None
    calendar: dict[str, Any] | None = None


class Objective(_O):
    displayName: str | None = None
    op: Literal["lte", "gte", "lt", "gt"] | None = None
    value: float | None = None
    target: Annotated[float, Field(ge=0, lt=1)] | None = None
    targetPercent: Annotated[float, Field(ge=0, lt=100)] | None = None
    timeSliceTarget: Annotated[float, Field(gt=0, le=1)] | None = None
    timeSliceWindow: str | float | None = None
    indicator: InlineSLI | None = None
    indicatorRef: str | None = None
    compositeWeight: float | None = None


class Condition(_O):
    kind: Literal["burnrate"] = "burnrate"
    op: Literal["lte", "gte", "lt", "gt"]
    threshold: float
    lookbackWindow: str
    alertAfter: str = "0m"


class AlertConditionBody(_O):
    description: Text | None = None
    severity: str
    condition: Condition


class ConditionItem(_O):
    conditionRef: str | None = None
    kind: Literal["AlertCondition"] | None = None
    metadata: Metadata | None = None
    spec: AlertConditionBody | None = None


class TargetItem(_O):
    targetRef: str | None = None
    kind: Literal["AlertNotificationTarget"] | None = None
    metadata: Metadata | None = None
    spec: dict[str, Any] | None = None


class AlertPolicyBody(_O):
    description: Text | None = None
    alertWhenNoData: bool | None = None
    alertWhenResolved: bool | None = None
    alertWhenBreaching: bool | None = None
    conditions: Annotated[list[ConditionItem], Field(min_length=1, max_length=1)]
    notificationTargets: list[TargetItem] = Field(default_factory=list)


class PolicyItem(_O):
    alertPolicyRef: str | None = None
    kind: Literal["AlertPolicy"] | None = None
    metadata: Metadata | None = None
    spec: AlertPolicyBody | None = None


class SLOBody(_O):
    description: Text | None = None
    service: str
    indicator: InlineSLI | None = None
    indicatorRef: str | None = None
    timeWindow: list[TimeWindow] = Field(default_factory=list)
    budgetingMethod: Literal["Occurrences", "Timeslices", "RatioTimeslices"]
    objectives: Annotated[list[Objective], Field(min_length=1)]
    alertPolicies: list[PolicyItem] = Field(default_factory=list)


class DataSourceBody(_O):
    description: Text | None = None
    type: str
    connectionDetails: dict[str, Any] = Field(default_factory=dict)


class ServiceBody(_O):
    description: Text | None = None


class TargetBody(_O):
    target: str
    description: Text | None = None


_BODIES: dict[str, type[_O]] = {
    "SLO": SLOBody,
    "SLI": SLIBody,
    "AlertPolicy": AlertPolicyBody,
    "AlertCondition": AlertConditionBody,
    "DataSource": DataSourceBody,
    "Service": ServiceBody,
    "AlertNotificationTarget": TargetBody,
}


class Document(_O):
    apiVersion: str
    kind: str
    metadata: Metadata
    spec: dict[str, Any]


@dataclass
class _Doc:
    source: str  # file name
    line: int  # where the document starts
    node: yaml.Node
    kind: str
    name: str
    body: Any


# --- reading -------------------------------------------------------------------


def _line(node: yaml.Node, loc: tuple[Any, ...]) -> int:
    """The line (1-based) of the field at ``loc`` under ``node``, as deep as it exists:
    a mapping's key line (where a reader looks for ``annotations:``), a list item's own."""
    line = node.start_mark.line
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == part]
            if not match:
                break
            line, node = match[0][0].start_mark.line, match[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line
        else:
            break
    return line + 1


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Reader:
    def __init__(self) -> None:
        self.docs: list[_Doc] = []
        # SLOs carrying slolab's exact SLI: (document, the indicator's queries)
        self.exact: dict[str, tuple[_Doc, tuple[str, ...]]] = {}

    def fail(self, doc: _Doc | None, loc: tuple[Any, ...], message: str) -> ConvertError:
        if doc is None:
            return ConvertError(message)
        line = _line(doc.node, loc)
        where = f"{doc.kind} {doc.name!r}" if doc.name else doc.kind
        return ConvertError(f"{doc.source}:{line}: {where}: {_field(loc) or 'document'}: {message}")

    def read(self, text: str, source: str) -> None:
        loader = _Loader(text)
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is None:
                    continue
                self._add(source, node, loader.construct_document(node))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f"{mark.line + 1}: " if mark is not None else " "
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConvertError(f"{source}:{line}invalid YAML: {problem}") from None
        finally:
            loader.dispose()

    def _add(self, source: str, node: yaml.Node, raw: Any) -> None:
        doc = _Doc(source, node.start_mark.line + 1, node, "document", "", None)
        if not isinstance(raw, dict):
            raise self.fail(doc, (), "expected an OpenSLO object (apiVersion, kind, ...)")
        doc.kind = str(raw.get("kind", "document"))
        meta = raw.get("metadata")
        doc.name = str(meta.get("name", "")) if isinstance(meta, dict) else ""
        try:
            head = Document.model_validate(raw)
        except ValidationError as exc:
            raise self._pydantic(doc, exc, ()) from None
        if head.apiVersion != API_VERSION:
            raise self.fail(
                doc,
                ("apiVersion",),
                f"{head.apiVersion!r} is not supported: slolab reads {API_VERSION}",
            )
        if head.kind not in _BODIES:
            raise self.fail(
                doc, ("kind",), f"{head.kind!r} is not an OpenSLO v1 kind ({', '.join(_BODIES)})"
            )
        try:
            doc.body = (head.metadata, _BODIES[head.kind].model_validate(head.spec))
        except ValidationError as exc:
            raise self._pydantic(doc, exc, ("spec",)) from None
        for other in self.docs:
            if (other.kind, other.name) == (doc.kind, doc.name):
                raise self.fail(
                    doc, ("metadata", "name"), f"already defined at {other.source}:{other.line}"
                )
        self.docs.append(doc)

    def _pydantic(self, doc: _Doc, exc: ValidationError, prefix: tuple[Any, ...]) -> ConvertError:
        err = exc.errors()[0]
        loc = prefix + tuple(p for p in err["loc"] if not str(p).startswith(("function-", "[")))
        msg = {"extra_forbidden": "unknown field", "missing": "required field missing"}.get(
            err["type"], err["msg"].removeprefix("Value error, ")
        )
        return self.fail(doc, loc, msg)

    def named(self, kind: str, name: str) -> _Doc | None:
        return next((d for d in self.docs if d.kind == kind and d.name == name), None)


# --- OpenSLO -> slos.yaml -------------------------------------------------------


def _query(r: _Reader, doc: _Doc, loc: tuple[Any, ...], metric: Metric) -> str:
    src = metric.metricSource
    kind = src.type
    if src.metricSourceRef is not None:
        ds = r.named("DataSource", src.metricSourceRef)
        if ds is None:
            raise r.fail(
                doc, (*loc, "metricSource", "metricSourceRef"),
                f"no DataSource named {src.metricSourceRef!r}",
            )  # fmt: skip
        kind = kind or ds.body[1].type
    if kind != "Prometheus":
        raise r.fail(
            doc, (*loc, "metricSource", "type"),
            f"{kind!r}: slolab reads Prometheus only (type: Prometheus)",
        )  # fmt: skip
    extra = sorted(set(src.spec) - {"query"})
    if extra or not isinstance(src.spec.get("query"), str):
        what = f"unknown field {extra[0]!r}" if extra else "give the PromQL as 'query'"
        raise r.fail(doc, (*loc, "metricSource", "spec"), what)
    return src.spec["query"].strip()


def _selector(r: _Reader, doc: _Doc, loc: tuple[Any, ...], query: str) -> str:
    """A plain series selector; ``rate``/``increase``/``sum`` around one are unwrapped
    (the generator adds its own windows and aggregation)."""
    try:
        node = promql_parser.parse(query)
    except ValueError as exc:
        raise r.fail(doc, loc, f"invalid PromQL {query!r}: {exc}") from None
    if (
        isinstance(node, promql_parser.VectorSelector)
        and node.name
        and not (node.offset or node.at)
    ):
        return query  # as written: the spec compares selectors as text
    while True:
        if isinstance(node, promql_parser.AggregateExpr) and str(node.op) == "sum":
            if node.modifier is not None:
                raise r.fail(doc, loc, f"{query!r}: slolab sums over all series (no by/without)")
            node = node.expr
        elif isinstance(node, promql_parser.Call) and node.func.name in ("rate", "increase"):
            node = node.args[0]
        elif isinstance(node, promql_parser.MatrixSelector):
            node = node.vector_selector
        elif isinstance(node, promql_parser.ParenExpr):
            node = node.expr
        else:
            break
    if not isinstance(node, promql_parser.VectorSelector) or not node.name:
        raise r.fail(
            doc, loc,
            f"{query!r}: give a series selector like name{{label=\"v\"}} (optionally in "
            "sum(rate(...[w]))): slolab adds the windows",
        )  # fmt: skip
    return str(node)


def _latency(good: str, total: str) -> dict[str, Any] | None:
    """A bucket-over-count ratio of one histogram as a latency SLI, else None."""
    g = promql_parser.parse(good)
    t = promql_parser.parse(total)
    if not (g.name and t.name and g.name.endswith("_bucket") and t.name.endswith("_count")):
        return None
    base = g.name.removesuffix("_bucket")
    if t.name.removesuffix("_count") != base:
        return None
    les = [m for m in g.matchers.matchers if m.name == "le"]
    rest = sorted(str(m) for m in g.matchers.matchers if m.name != "le")
    if len(les) != 1 or rest != sorted(str(m) for m in t.matchers.matchers):
        return None
    value = les[0].value.replace("[.]", ".").rstrip("*").split("(")[0]
    try:
        threshold = float(value.rstrip("0") if "." in value else value)
    except ValueError:
        return None
    selector = ", ".join(str(m) for m in g.matchers.matchers if m.name != "le")
    return {"histogram": base, "selector": selector, "threshold_seconds": threshold}


def _sli(r: _Reader, doc: _Doc, loc: tuple[Any, ...], sli: SLIBody, method: str) -> dict:
    if (sli.ratioMetric is None) == (sli.thresholdMetric is None):
        raise r.fail(doc, loc, "give exactly one of ratioMetric or thresholdMetric")
    if sli.thresholdMetric is not None:
        if method == "RatioTimeslices":
            raise r.fail(
                doc, ("spec", "budgetingMethod"),
                "RatioTimeslices averages slice ratios, which slolab never does "
                "(it sums events: docs/slo-spec.md); use Occurrences",
            )  # fmt: skip
        query = _query(r, doc, (*loc, "thresholdMetric"), sli.thresholdMetric)
        return {"threshold": {"expr": query}}
    ratio = sli.ratioMetric
    assert ratio is not None
    rloc = (*loc, "ratioMetric")
    if method != "Occurrences":
        raise r.fail(
            doc, ("spec", "budgetingMethod"),
            f"{method} with a ratioMetric: slolab budgets ratios by Occurrences "
            "(good events over all events)",
        )  # fmt: skip
    if ratio.raw is not None or ratio.rawType is not None:
        raise r.fail(
            doc, (*rloc, "raw"),
            "precomputed ratios cannot be summed into a traffic-weighted budget: "
            "give good or bad over total counters",
        )  # fmt: skip
    if ratio.counter is False:
        raise r.fail(
            doc, (*rloc, "counter"),
            "slolab reads counters (counter: true); a gauge ratio has no events to sum",
        )  # fmt: skip
    if (ratio.good is None) == (ratio.bad is None) or ratio.total is None:
        raise r.fail(doc, rloc, "give total and exactly one of good or bad")
    part = "good" if ratio.good is not None else "bad"
    num = _query(r, doc, (*rloc, part), ratio.good or ratio.bad)  # type: ignore[arg-type]
    den = _query(r, doc, (*rloc, "total"), ratio.total)
    num = _selector(r, doc, (*rloc, part, "metricSource", "spec", "query"), num)
    den = _selector(r, doc, (*rloc, "total", "metricSource", "spec", "query"), den)
    if part == "good":
        latency = _latency(num, den)
        if latency is not None:
            return {"latency": latency}
    return {"ratio": {"errors" if part == "bad" else "good": num, "total": den}}


def _indicator_queries(sli: SLIBody) -> tuple[str, ...]:
    metrics = (
        [sli.thresholdMetric]
        if sli.thresholdMetric is not None
        else [m for m in (sli.ratioMetric.good, sli.ratioMetric.bad, sli.ratioMetric.total) if m]  # type: ignore[union-attr]
    )
    return tuple(str(m.metricSource.spec.get("query", "")).strip() for m in metrics)


def _period(r: _Reader, doc: _Doc, windows: list[TimeWindow]) -> str:
    if not windows:
        return c.DEFAULT_PERIOD
    if len(windows) != 1:
        raise r.fail(doc, ("spec", "timeWindow"), "OpenSLO v1 allows exactly one time window")
    w = windows[0]
    loc = ("spec", "timeWindow", 0)
    if w.calendar is not None or w.isRolling is False:
        raise r.fail(
            doc, (*loc, "calendar"),
            "calendar-aligned windows are not supported: slolab's periods are rolling "
            f"({', '.join(c.PERIODS)})",
        )  # fmt: skip
    m = re.fullmatch(r"(\d+)([mhdwMQY])", w.duration)
    if m is None:
        raise r.fail(doc, (*loc, "duration"), f"{w.duration!r} is not a duration like 30d or 4w")
    count, unit = int(m.group(1)), m.group(2)
    if unit in "MQY":
        raise r.fail(
            doc, (*loc, "duration"),
            f"{w.duration!r}: a rolling month, quarter or year has no fixed length; "
            "write it in days (30d or 28d)",
        )  # fmt: skip
    span = timedelta(minutes=count) * {"m": 1, "h": 60, "d": 1440, "w": 10080}[unit]
    for period in c.PERIODS:
        if parse_duration(period) == span:
            return period
    raise r.fail(
        doc, (*loc, "duration"),
        f"{w.duration!r} is not a supported period ({', '.join(c.PERIODS)})",
    )  # fmt: skip


def _objective(r: _Reader, doc: _Doc, body: SLOBody, sli: dict[str, Any]) -> float:
    if len(body.objectives) != 1:
        raise r.fail(
            doc, ("spec", "objectives"),
            f"{len(body.objectives)} objectives: slolab has one objective per SLO "
            "(write one SLO per objective)",
        )  # fmt: skip
    obj = body.objectives[0]
    loc = ("spec", "objectives", 0)
    for name in ("indicator", "indicatorRef", "compositeWeight"):
        if getattr(obj, name) is not None:
            raise r.fail(doc, (*loc, name), "composite SLOs are not supported")
    if (obj.target is None) == (obj.targetPercent is None):
        raise r.fail(doc, loc, "give exactly one of target or targetPercent")
    percent = obj.targetPercent if obj.target is None else round(obj.target * 100, 10)
    assert percent is not None
    if "threshold" in sli:
        if obj.op is None or obj.value is None:
            raise r.fail(doc, loc, "a thresholdMetric needs op and value")
        sli["threshold"].update(op=_OPS[obj.op], value=_plain(obj.value))
        if body.budgetingMethod == "Timeslices" and obj.timeSliceTarget not in (None, 1):
            raise r.fail(
                doc, (*loc, "timeSliceTarget"),
                "slolab's time slices are its 30 s evaluations, each good or bad: "
                "only timeSliceTarget 1 maps",
            )  # fmt: skip
    elif obj.op is not None or obj.value is not None:
        raise r.fail(doc, (*loc, "op"), "op and value go with a thresholdMetric only")
    return _plain(float(number(percent)))


def _plain(value: float) -> float | int:
    """99.0 as 99 in the written file (the reader sees the number they wrote)."""
    return int(value) if float(value).is_integer() else value


def _conditions(r: _Reader, doc: _Doc, body: SLOBody, spec: dict[str, Any],
                warnings: list[str]) -> None:  # fmt: skip
    """Check the alert policies against the Workbook conditions slolab generates."""
    period = parse_duration(spec["period"])
    budget = 1 - spec["objective"] / 100
    expected: dict[tuple[timedelta, float], tuple[str, timedelta]] = {}
    for policy in c.BURN_POLICIES:
        for pair in policy.pairs:
            if pair.factor * budget < 1:
                long = scale_window(pair.long, period)
                expected[(long, float(pair.factor))] = (
                    policy.severity,
                    scale_window(pair.short, period),
                )
    seen: set[tuple[timedelta, float]] = set()
    for i, item in enumerate(body.alertPolicies):
        loc: tuple[Any, ...] = ("spec", "alertPolicies", i)
        pdoc, policy, ploc = doc, item.spec, (*loc, "spec")
        if item.alertPolicyRef is not None:
            found = r.named("AlertPolicy", item.alertPolicyRef)
            if found is None:
                raise r.fail(doc, (*loc, "alertPolicyRef"),
                             f"no AlertPolicy named {item.alertPolicyRef!r}")  # fmt: skip
            pdoc, policy, ploc = found, found.body[1], ("spec",)
        elif policy is None:
            raise r.fail(doc, loc, "give alertPolicyRef or an inline AlertPolicy")
        assert policy is not None
        if policy.alertWhenBreaching is False:
            raise r.fail(pdoc, (*ploc, "alertWhenBreaching"),
                         "false: slolab's burn-rate alerts fire while breaching")  # fmt: skip
        name = f"{pdoc.kind} {pdoc.name!r}" if pdoc is not doc else f"SLO {doc.name!r}"
        if policy.alertWhenNoData is False:
            warnings.append(
                f"{pdoc.source}: {name}: alertWhenNoData false: slolab always opens "
                f"{c.ALERT_NO_DATA} when an SLI records nothing"
            )
        if policy.notificationTargets:
            warnings.append(
                f"{pdoc.source}: {name}: notificationTargets are not converted: slolab routes "
                "by severity (critical: PagerDuty, warning: Slack, both: the webhook; "
                "docs/slo-spec.md#alertmanager)"
            )
        item_c = policy.conditions[0]
        cloc = (*ploc, "conditions", 0)
        cdoc, cond, cmeta, mloc = pdoc, item_c.spec, item_c.metadata, (*cloc, "metadata")
        cloc = (*cloc, "spec")
        if item_c.conditionRef is not None:
            found = r.named("AlertCondition", item_c.conditionRef)
            if found is None:
                raise r.fail(pdoc, (*cloc[:-1], "conditionRef"),
                             f"no AlertCondition named {item_c.conditionRef!r}")  # fmt: skip
            cdoc, cond, cmeta = found, found.body[1], found.body[0]
            cloc, mloc = ("spec",), ("metadata",)
        elif cond is None:
            raise r.fail(pdoc, cloc[:-1], "give conditionRef or an inline AlertCondition")
        assert cond is not None
        _check_condition(r, cdoc, cloc, cond, (cmeta, mloc), expected, seen, spec)
    missing = sorted(set(expected) - seen)
    if missing:
        shown = ", ".join(f"{f:g}x over {_shorthand(w)}" for w, f in missing)
        warnings.append(
            f"{doc.source}: SLO {doc.name!r}: slolab also generates the Workbook "
            f"condition(s) the document does not give: {shown}"
        )


def _check_condition(r: _Reader, doc: _Doc, loc: tuple[Any, ...], cond: AlertConditionBody,
                     meta: tuple[Metadata | None, tuple[Any, ...]], expected: dict, seen: set,
                     spec: dict[str, Any]) -> None:  # fmt: skip
    severity = _SEVERITIES.get(cond.severity.lower())
    if severity is None:
        raise r.fail(
            doc, (*loc, "severity"),
            f"{cond.severity!r}: slolab has page ({c.SEVERITY_PAGE}) and ticket "
            f"({c.SEVERITY_TICKET}) severities",
        )  # fmt: skip
    cc = cond.condition
    if cc.op not in ("gt", "gte"):
        raise r.fail(doc, (*loc, "condition", "op"),
                     f"{cc.op!r}: a burn-rate alert fires above its threshold (gt)")  # fmt: skip
    try:
        after = parse_duration(cc.alertAfter) if cc.alertAfter not in ("0", "0m") else None
    except ValueError:
        raise r.fail(doc, (*loc, "condition", "alertAfter"), f"{cc.alertAfter!r}") from None
    if after is not None:
        raise r.fail(
            doc, (*loc, "condition", "alertAfter"),
            f"{cc.alertAfter!r}: slolab's burn alerts have no for: (the short window "
            "confirms the burn instead)",
        )  # fmt: skip
    try:
        long = parse_duration(cc.lookbackWindow)
    except ValueError as exc:
        raise r.fail(doc, (*loc, "condition", "lookbackWindow"), str(exc)) from None
    key = (long, float(cc.threshold))
    if key not in expected:
        shown = ", ".join(f"{f:g}x over {_shorthand(w)}" for w, f in sorted(expected))
        raise r.fail(
            doc, (*loc, "condition"),
            f"burn rate {cc.threshold:g}x over {cc.lookbackWindow} is not a condition slolab "
            f"generates for a {spec['period']} period at {number(spec['objective'])}% "
            f"(the Workbook's: {shown})",
        )  # fmt: skip
    want_severity, short = expected[key]
    if severity != want_severity:
        raise r.fail(doc, (*loc, "severity"),
                     f"{cond.severity!r}: slolab's {cc.threshold:g}x over {cc.lookbackWindow} "
                     f"condition is a {want_severity} alert")  # fmt: skip
    metadata, mloc = meta
    given = metadata.annotations.get(A_SHORT_WINDOW) if metadata is not None else None
    if given is not None and parse_duration(given) != short:
        raise r.fail(doc, (*mloc, "annotations", A_SHORT_WINDOW),
                     f"{given!r}: the short window of this condition is "
                     f"{_shorthand(short)} (1/12 of the long one)")  # fmt: skip
    seen.add(key)


def _json_annotation(r: _Reader, doc: _Doc, meta: Metadata, key: str) -> Any:
    if key not in meta.annotations:
        return None
    try:
        return json.loads(meta.annotations[key])
    except json.JSONDecodeError as exc:
        raise r.fail(doc, ("metadata", "annotations", key), f"not JSON: {exc}") from None


def _slo(r: _Reader, doc: _Doc, warnings: list[str]) -> dict[str, Any]:
    meta, body = doc.body
    if (body.indicator is None) == (body.indicatorRef is None):
        raise r.fail(doc, ("spec",), "give exactly one of indicator or indicatorRef")
    sdoc, sloc = doc, ("spec", "indicator", "spec")
    if body.indicatorRef is not None:
        found = r.named("SLI", body.indicatorRef)
        if found is None:
            raise r.fail(doc, ("spec", "indicatorRef"), f"no SLI named {body.indicatorRef!r}")
        sdoc, sloc, sli_body = found, ("spec",), found.body[1]
    else:
        sli_body = body.indicator.spec  # type: ignore[union-attr]
    sli = _sli(r, sdoc, sloc, sli_body, body.budgetingMethod)
    out: dict[str, Any] = {"name": meta.name, "service": body.service}
    # (the SLI is set after the objective: a threshold's op and value live there)
    description = body.description or sli_body.description or meta.displayName
    if not description:
        raise r.fail(doc, ("spec", "description"), "required field missing (slolab shows it)")
    out["description"] = description
    owner = meta.annotations.get(A_OWNER)
    if owner is None:
        raise r.fail(doc, ("metadata", "annotations", A_OWNER),
                     "required: who owns the SLO (slolab's owner field)")  # fmt: skip
    out["owner"] = owner
    out["sli"] = sli
    out["objective"] = _objective(r, doc, body, sli)
    exact = _json_annotation(r, doc, meta, A_SLI)
    if exact is not None:
        # The exact kind (probe, freshness, latency buckets...) as slolab wrote it:
        # checked against the indicator's queries once the file validates.
        out["sli"] = exact
        r.exact[meta.name] = (doc, _indicator_queries(sli_body))
    out["period"] = _period(r, doc, body.timeWindow)
    further = _json_annotation(r, doc, meta, A_PERIODS)
    if further is not None:
        if not isinstance(further, list) or not all(isinstance(p, str) for p in further):
            raise r.fail(doc, ("metadata", "annotations", A_PERIODS),
                         'a JSON list of periods, e.g. ["7d"]')  # fmt: skip
        # checked (supported, listed once) when the converted file is validated
        out["periods"] = further
    review = _json_annotation(r, doc, meta, A_REVIEW)
    if review is None:
        raise r.fail(doc, ("metadata", "annotations", A_REVIEW),
                     'required: the review cadence and last review as JSON, e.g. '
                     '{"cadence": "90d", "last_review": "2026-11-23"}')  # fmt: skip
    out["review"] = review
    labels = {}
    for key, value in meta.labels.items():
        if isinstance(value, list):
            if len(value) != 1:
                raise r.fail(doc, ("metadata", "labels", key),
                             f"{len(value)} values: a Prometheus label has one")  # fmt: skip
            value = value[0]
        labels[key] = value
    if labels:
        out["labels"] = labels
    alerting: dict[str, Any] = {}
    if A_RUNBOOK in meta.annotations:
        alerting["runbook_url"] = meta.annotations[A_RUNBOOK]
    if A_MIN_EVENTS in meta.annotations:
        text = meta.annotations[A_MIN_EVENTS]
        if not text.isdigit():
            raise r.fail(doc, ("metadata", "annotations", A_MIN_EVENTS),
                         f"{text!r} is not a whole number of events")  # fmt: skip
        alerting["min_events"] = int(text)
    if alerting:
        out["alerting"] = alerting
    _conditions(r, doc, body, out, warnings)
    if "periods" in out:  # the timeWindow first: it drives the burn-rate alerts
        out["periods"] = [out.pop("period"), *out["periods"]]
    return out


def from_openslo(files: list[tuple[str, str]]) -> Conversion:
    """Convert OpenSLO v1 documents (``(text, source)`` pairs) to the text of an SLO file."""
    r = _Reader()
    for text, source in files:
        r.read(text, source)
    warnings: list[str] = []
    slos = [_slo(r, d, warnings) for d in r.docs if d.kind == "SLO"]
    if not slos:
        raise ConvertError(f"{', '.join(s for _, s in files)}: no SLO object found")
    for d in r.docs:
        if d.kind == "DataSource" and d.body[1].type != "Prometheus":
            raise r.fail(d, ("spec", "type"),
                         f"{d.body[1].type!r}: slolab reads Prometheus only")  # fmt: skip
    out: dict[str, Any] = {"version": 1}
    for key, field_ in (
        (A_RUNBOOK_BASE, "runbook_base_url"),
        (A_POLICY, "policy"),
        (A_ADJUSTMENTS, "adjustments"),
    ):
        values = {}
        for d in r.docs:
            if d.kind == "SLO" and key in d.body[0].annotations:
                values[d.name] = d.body[0].annotations[key]
        if len(set(values.values())) > 1:
            first = next(d for d in r.docs if d.kind == "SLO" and d.name in values)
            raise r.fail(first, ("metadata", "annotations", key),
                         f"differs between SLOs ({', '.join(values)}): it is one setting "
                         "of the whole file")  # fmt: skip
        if values:
            value = next(iter(values.values()))
            out[field_] = value if field_ == "runbook_base_url" else json.loads(value)
    out["slos"] = slos
    sources = ", ".join(s for _, s in files)
    text = f"# converted from OpenSLO ({sources}) by slolab slo convert\n" + yaml.safe_dump(
        out, sort_keys=False, allow_unicode=True, width=100
    )
    try:
        converted = from_spec(parse_spec(text, source="converted"), source="converted")
    except SpecError as exc:
        raise ConvertError(f"{sources}: the converted SLO file does not validate: {exc}") from None
    for slo in converted:
        if slo.name in r.exact:
            doc, queries = r.exact[slo.name]
            if _queries(slo.sli)[1:] != queries:
                raise r.fail(doc, ("metadata", "annotations", A_SLI),
                             "does not describe the indicator's queries "
                             f"({' / '.join(_queries(slo.sli)[1:])})")  # fmt: skip
    return Conversion(text, warnings)


# --- slos.yaml -> OpenSLO -------------------------------------------------------


def _metric(query: str) -> dict[str, Any]:
    return {
        "metricSource": {
            "metricSourceRef": DATASOURCE,
            "type": "Prometheus",
            "spec": {"query": query},
        }
    }


def _queries(sli: Any) -> tuple[str, ...]:
    """(indicator kind, queries...) of a model SLI as written in OpenSLO."""
    if isinstance(sli, LatencySLI):
        return ("latency", promql.bucket_selector(sli), promql.count_selector(sli))
    if isinstance(sli, SampleSLI):
        return ("threshold", promql.good_sample(sli) or sli.source)
    if sli.good is not None:
        return ("good", sli.good, sli.total)
    return ("bad", sli.errors, sli.total)


def _indicator(spec: SLOSpec, slo: SLO) -> tuple[dict[str, Any], dict[str, Any]]:
    """(indicator spec, objective fields) for one SLO."""
    kind, *queries = _queries(slo.sli)
    if spec.sli.threshold is not None:
        th = spec.sli.threshold
        op = {v: k for k, v in _OPS.items()}.get(th.op)
        if op is None:
            raise ConvertError(
                f"slo {spec.name!r}: sli.threshold.op {th.op!r}: OpenSLO's operators are "
                "lt, lte, gt, gte"
            )
        return {"thresholdMetric": _metric(th.expr)}, {"op": op, "value": th.value}
    if kind == "threshold":
        # 1 while good (a 0/1 probe, or slolab's recorded good-sample expression)
        return {"thresholdMetric": _metric(queries[0])}, {"op": "gte", "value": 1}
    num = "good" if kind in ("good", "latency") else "bad"
    return {
        "ratioMetric": {"counter": True, num: _metric(queries[0]), "total": _metric(queries[1])}
    }, {}


def _condition_name(severity: str, long: str, period: str) -> str:
    return f"slolab-{'page' if severity == c.SEVERITY_PAGE else 'ticket'}-{long}-{period}"


def _shorthand(window: str | timedelta) -> str:
    """OpenSLO's duration shorthand: one number and one unit (2h24m -> 144m)."""
    span = parse_duration(window) if isinstance(window, str) else window
    minutes = int(span.total_seconds() // 60)
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


def to_openslo(spec: SLOFileSpec, source: str = "slos.yaml",
               datasource_url: str = "http://127.0.0.1:9090") -> Conversion:  # fmt: skip
    """OpenSLO v1 documents (one YAML stream) for every SLO of ``spec``."""
    slos = from_spec(spec, source=source)
    head: list[dict[str, Any]] = [
        _object("DataSource", DATASOURCE, {
            "description": "The Prometheus holding the SLIs' series",
            "type": "Prometheus",
            "connectionDetails": {"url": datasource_url},
        })
    ]  # fmt: skip
    for service in dict.fromkeys(s.service for s in spec.slos):
        head.append(_object("Service", service, {"description": f"service {service}"}))
    docs: list[dict[str, Any]] = []
    policies: dict[str, dict[str, Any]] = {}
    for s, slo in zip(spec.slos, slos, strict=True):
        indicator, objective_fields = _indicator(s, slo)
        refs = []
        for policy in slo.alert_policies:
            for cond in policy.conditions:
                period = format_duration(slo.period)
                name = _condition_name(policy.severity, format_duration(cond.long), period)
                refs.append({"alertPolicyRef": name})
                policies.setdefault(name, _policy(name, policy.alert, str(policy.severity), cond))
        annotations = {
            A_OWNER: s.owner,
            A_REVIEW: json.dumps(s.review.model_dump(mode="json", exclude_defaults=True)),
        }
        if s.alerting.runbook_url:
            annotations[A_RUNBOOK] = s.alerting.runbook_url
        if s.alerting.min_events is not None:
            annotations[A_MIN_EVENTS] = str(s.alerting.min_events)
        if len(s.all_periods) > 1:
            annotations[A_PERIODS] = json.dumps(list(s.all_periods[1:]))
        if s.sli.kind not in ("ratio", "threshold"):
            annotations[A_SLI] = json.dumps(s.sli.model_dump(mode="json", exclude_none=True))
        if spec.policy is not None:
            annotations[A_POLICY] = json.dumps(spec.policy)
        if spec.runbook_base_url:
            annotations[A_RUNBOOK_BASE] = spec.runbook_base_url
        if spec.adjustments:
            # planned work has no OpenSLO object: the whole list, on every SLO
            annotations[A_ADJUSTMENTS] = json.dumps(
                [a.model_dump(mode="json", exclude_defaults=True) for a in spec.adjustments]
            )
        metadata: dict[str, Any] = {"name": s.name}
        if s.labels:
            metadata["labels"] = dict(s.labels)
        metadata["annotations"] = annotations
        budgeting = "Occurrences"
        docs.append({
            "apiVersion": API_VERSION,
            "kind": "SLO",
            "metadata": metadata,
            "spec": {
                "description": s.description,
                "service": s.service,
                "indicator": {"metadata": {"name": f"{s.name}-sli"}, "spec": indicator},
                "timeWindow": [{"duration": format_duration(slo.period), "isRolling": True}],
                "budgetingMethod": budgeting,
                "objectives": [{**objective_fields, "targetPercent": s.objective}],
                "alertPolicies": refs,
            },
        })  # fmt: skip
    docs = [*head, *policies.values(), *docs]
    text = f"# OpenSLO v1, converted from {source} by slolab slo convert\n" + yaml.safe_dump_all(
        docs, sort_keys=False, allow_unicode=True, width=100
    )
    return Conversion(text)


def _object(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}


def _policy(name: str, alert: str, severity: str, cond: BurnCondition) -> dict[str, Any]:
    long, short = format_duration(cond.long), format_duration(cond.short)
    doc = _object("AlertPolicy", name, {
        "description": f"{alert}: burn rate over {cond.factor:g}x on {long} and {short}",
        "alertWhenNoData": True,
        "alertWhenResolved": True,
        "alertWhenBreaching": True,
        "conditions": [{
            "kind": "AlertCondition",
            "metadata": {"name": name, "annotations": {A_SHORT_WINDOW: short}},
            "spec": {
                "severity": severity,
                "condition": {
                    "kind": "burnrate", "op": "gt", "threshold": cond.factor,
                    "lookbackWindow": _shorthand(cond.long), "alertAfter": "0m",
                },
            },
        }],
    })  # fmt: skip
    return doc
