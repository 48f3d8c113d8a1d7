"""The ``slos.yaml`` wire format and its strict loader.

The wire format is what people write; :mod:`slolab.slo.model` is what the code
uses. Every error names the file, the SLO and the field, e.g.
``slos.yaml: slo 'tasks-latency': sli.latency.threshold_seconds: 0.3 is not a
bucket boundary of flask_http_request_duration_seconds (buckets: ...)``.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import promql_parser
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from slolab.slo import conventions as c
from slolab.slo.durations import parse_duration
from slolab.slo.files import read_config

__all__ = ["SLOFileSpec", "SLOSpec", "SpecError", "load_spec", "parse_spec"]

_KEBAB = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class SpecError(ValueError):
    """``slos.yaml`` is invalid; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _parse(expr: str) -> Any:
    try:
        return promql_parser.parse(expr)
    except ValueError as exc:
        raise ValueError(f"invalid PromQL {expr!r}: {exc}") from None


def _selector(expr: str) -> str:
    """Accept a plain series selector (``name{label="v"}``): the generator wraps it."""
    node = _parse(expr)
    if not isinstance(node, promql_parser.VectorSelector) or node.offset or node.at:
        raise ValueError(f'{expr!r} must be a series selector like name{{label="value"}}')
    if not node.name:
        raise ValueError(f"{expr!r} must name a metric")
    return expr.strip()


Selector = Annotated[str, Field(min_length=1)]
SeriesSelector = Annotated[Selector, AfterValidator(_selector)]


def _duration(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[str, AfterValidator(_duration)]  # a Prometheus duration, e.g. 1h30m


def _supported_period(value: str) -> str:
    if value not in c.PERIODS:
        raise ValueError(f"{value!r} is not a supported period ({', '.join(c.PERIODS)})")
    return value


class RatioSLISpec(_Strict):
    """Events from counters: bad (``errors``) or ``good`` over ``total``."""

    errors: SeriesSelector | None = None
    good: SeriesSelector | None = None
    total: SeriesSelector

    @model_validator(mode="after")
    def _one_of(self) -> RatioSLISpec:
        if (self.errors is None) == (self.good is None):
            raise ValueError("give exactly one of 'errors' or 'good'")
        return self


class LatencySLISpec(_Strict):
    """Requests faster than ``threshold_seconds``, from a histogram's buckets."""

    histogram: Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    selector: str = ""  # label matchers, e.g. job="tasks", path=~"/api/.*"
    # The histogram's boundaries: when given, the threshold must be one of them
    # (checked offline); otherwise `slolab slo validate` warns that it could not check.
    buckets: tuple[float, ...] | None = None
    threshold_seconds: Annotated[float, Field(gt=0)]

    @field_validator("histogram")
    @classmethod
    def _base_name(cls, value: str) -> str:
        for suffix in ("_bucket", "_count", "_sum"):
            if value.endswith(suffix):
                raise ValueError(f"give the base name without {suffix!r}: {value[: -len(suffix)]}")
        return value

    @field_validator("selector")
    @classmethod
    def _matchers(cls, value: str) -> str:
        value = value.strip().removeprefix("{").removesuffix("}").strip()
        _selector(f"x{{{value}}}")
        if re.search(r"\ble\s*(=|!=|=~|!~)", value):
            raise ValueError("must not match 'le': the threshold picks the bucket")
        return value

    @field_validator("threshold_seconds")
    @classmethod
    def _is_bucket(cls, value: float, info: ValidationInfo) -> float:
        name = info.data.get("histogram")
        if name is None:
            return value
        buckets = info.data.get("buckets")
        if buckets is None:
            return value
        if not any(abs(value - b) <= 1e-9 * max(1.0, b) for b in buckets):
            shown = " ".join(f"{b:g}" for b in buckets)
            raise ValueError(f"{value:g} is not a bucket boundary of {name} (buckets: {shown})")
        return value


class ProbeSLISpec(_Strict):
    """A 0/1 series sampled over time (blackbox ``probe_success``): good samples / all."""

    selector: SeriesSelector


class FreshnessSLISpec(_Strict):
    """A Unix-timestamp gauge: good while it is younger than ``max_age_seconds``."""

    timestamp: SeriesSelector
    max_age_seconds: Annotated[float, Field(gt=0)]


class ThresholdSLISpec(_Strict):
    """Any gauge expression: good while ``expr op value`` holds."""

    expr: Selector
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    value: float

    @field_validator("expr")
    @classmethod
    def _check(cls, value: str) -> str:
        _parse(value)
        return value.strip()


class CpuSLISpec(_Strict):
    """A process CPU counter: good while it uses under ``max_cores`` (summed over series)."""

    selector: SeriesSelector  # e.g. process_cpu_seconds_total{job="tasks"}
    max_cores: Annotated[float, Field(gt=0)]
    rate_window: Duration = "1m"


class MemorySLISpec(_Strict):
    """A memory gauge: good while it stays under ``max_bytes`` (summed over series)."""

    selector: SeriesSelector  # e.g. process_resident_memory_bytes{job="tasks"}
    max_bytes: Annotated[float, Field(gt=0)]


class SLISpec(_Strict):
    ratio: RatioSLISpec | None = None
    latency: LatencySLISpec | None = None
    probe: ProbeSLISpec | None = None
    freshness: FreshnessSLISpec | None = None
    threshold: ThresholdSLISpec | None = None
    cpu: CpuSLISpec | None = None
    memory: MemorySLISpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SLISpec:
        kinds = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"give exactly one SLI kind of {', '.join(type(self).model_fields)}"
                + (f" (got {', '.join(kinds)})" if kinds else "")
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)


class ReviewSpec(_Strict):
    cadence: Duration = "90d"
    last_review: date
    # Governance: who reviews with the owner, and an agreed date that overrides
    # last_review + cadence (``slolab slo reviews schedule``).
    reviewers: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    scheduled: date | None = None


class AlertingSpec(_Strict):
    runbook_url: str | None = None
    # Low traffic: a burn-rate condition fires only when its long window holds at
    # least this many events, so that one failed request at night cannot page.
    min_events: Annotated[int, Field(ge=1)] | None = None


class SLOSpec(_Strict):
    name: Annotated[str, Field(pattern=_KEBAB, max_length=63)]
    service: Annotated[str, Field(pattern=_KEBAB, max_length=63)]
    description: Annotated[str, Field(min_length=1)]
    owner: Annotated[str, Field(min_length=1)]
    sli: SLISpec
    objective: float  # percent
    period: str = c.DEFAULT_PERIOD
    # Several rolling windows on one SLO (e.g. 30d for the report, 7d for the on-call):
    # the first drives the burn-rate alerts; each gets its period figures and budget
    # alerts. Instead of `period`, never with it.
    periods: Annotated[tuple[str, ...], Field(min_length=1)] | None = None
    review: ReviewSpec
    labels: dict[str, str] = Field(default_factory=dict)
    alerting: AlertingSpec = Field(default_factory=AlertingSpec)

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: float) -> float:
        if value >= 100:
            raise ValueError(
                f"{value:g} leaves no error budget: an objective must be below 100 (percent)"
            )
        if value <= 0:
            raise ValueError(f"{value:g} must be a percentage above 0, e.g. 99.9")
        return value

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        return _supported_period(value)

    @field_validator("periods")
    @classmethod
    def _periods(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for index, period in enumerate(value or ()):
            _supported_period(period)
            if period in value[:index]:  # type: ignore[index]
                raise ValueError(f"{period} is listed twice")
        return value

    @model_validator(mode="after")
    def _one_period_field(self) -> SLOSpec:
        if self.periods is not None and "period" in self.model_fields_set:
            raise ValueError(
                f"periods: give either period ({self.period}) or periods "
                f"([{', '.join(self.periods)}]), not both"
            )
        return self

    @property
    def all_periods(self) -> tuple[str, ...]:
        """Every window of the SLO, the one that drives the burn-rate alerts first."""
        return self.periods if self.periods is not None else (self.period,)

    @model_validator(mode="after")
    def _min_events_counts_requests(self) -> SLOSpec:
        kind = self.sli.kind
        if self.alerting.min_events is not None and kind not in ("ratio", "latency"):
            raise ValueError(
                f"alerting.min_events: a {kind} SLI counts evaluations or samples, which "
                "never run low; min_events is for request SLIs (ratio, latency)"
            )
        return self

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _LABEL_NAME.match(key) or key.startswith("__"):
                raise ValueError(f"{key!r} is not a valid Prometheus label name")
            if key in c.RESERVED_LABELS:
                raise ValueError(f"{key!r} is set by the generator and cannot be overridden")
        return value


class AdjustmentSpec(_Strict):
    """Planned work excluded from the budget: its events count neither good nor bad,
    and burn-rate alerts do not page during it (Sloth #529; Grafana SLO, Nobl9)."""

    name: Annotated[str, Field(pattern=_KEBAB, max_length=63)]
    reason: Annotated[str, Field(min_length=1)]
    start: datetime  # with a time zone, e.g. 2026-12-08T02:00:00Z
    end: datetime | None = None
    duration: Duration | None = None
    every: Duration | None = None  # recurring: the same window again every this long
    # Which SLOs: these names and every SLO of these services; neither: all of them.
    slos: tuple[str, ...] = ()
    services: tuple[str, ...] = ()

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{value.isoformat()} needs a time zone, e.g. Z or +01:00")
        return value

    @model_validator(mode="after")
    def _span(self) -> AdjustmentSpec:
        if (self.end is None) == (self.duration is None):
            raise ValueError("give exactly one of end or duration")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end {self.end.isoformat()} is not after start")
        if self.every is not None and self.length >= parse_duration(self.every):
            raise ValueError(f"every: {self.every} is not longer than the window itself")
        return self

    @property
    def length(self) -> timedelta:
        if self.end is not None:
            return self.end - self.start
        return parse_duration(self.duration or "")


class SLOFileSpec(_Strict):
    version: Literal[1] = 1
    # Where relative runbook links point (PagerDuty and Slack cannot open a repo path),
    # e.g. https://github.com/acme/slolab/blob/main/
    runbook_base_url: str | None = None
    slos: Annotated[list[SLOSpec], Field(min_length=1)]
    # The error-budget policy (format: slolab.slo.policy); checked by the model,
    # which gives every SLO its own. Absent: the built-in default.
    policy: dict[str, Any] | None = None
    # Budget adjustments (planned work), each for some or all SLOs.
    adjustments: list[AdjustmentSpec] = Field(default_factory=list)

    @field_validator("runbook_base_url")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
            raise ValueError(f"{value!r} must be an absolute http(s) URL")
        return value


# --- loading ------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one).

    Dates stay strings so that pydantic reports a bad one with its field name.
    """


_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in keys:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        keys.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

_FRIENDLY = {
    "extra_forbidden": "unknown field",
    "missing": "required field missing",
}


def _describe(err: dict[str, Any], raw: Any) -> str:
    loc = list(err["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] in ("slos", "adjustments") and isinstance(loc[1], int):
        index, what = loc[1], "slo" if loc[0] == "slos" else "adjustment"
        name = None
        with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
            name = raw[loc[0]][index].get("name")
        where = f"{what} {name!r}: " if isinstance(name, str) else f"{what} #{index + 1}: "
        loc = loc[2:]
    # pydantic adds the model name for union members and "[...]" for validators
    field = ".".join(str(p) for p in loc if not str(p).startswith(("function-", "[")))
    msg = _FRIENDLY.get(err["type"], err["msg"])
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if err["type"] == "date_from_datetime_parsing" or err["type"].startswith("date_"):
        msg = f"{err.get('input')!r} is not a date like 2026-01-31"
    if err["type"].startswith("datetime_"):
        msg = f"{err.get('input')!r} is not a time like 2026-12-08T02:00:00Z"
    return f"{where}{field}: {msg}" if field else f"{where}{msg}"


def parse_spec(text: str, source: str = "slos.yaml") -> SLOFileSpec:
    """Parse and validate the text of an SLO file; raise :class:`SpecError`."""
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{source}: {line}invalid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: expected a mapping with 'slos:' at the top")
    try:
        spec = SLOFileSpec.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{source}: {_describe(e, raw)}" for e in exc.errors()]
        raise SpecError("\n".join(lines)) from None
    seen: dict[str, int] = {}
    for index, slo in enumerate(spec.slos, start=1):
        if slo.name in seen:
            raise SpecError(
                f"{source}: slo {slo.name!r}: name: already used by slo #{seen[slo.name]}"
            )
        seen[slo.name] = index
    services = {s.service for s in spec.slos}
    names: set[str] = set()
    for adj in spec.adjustments:
        where = f"{source}: adjustment {adj.name!r}"
        if adj.name in names:
            raise SpecError(f"{where}: name: already used by another adjustment")
        names.add(adj.name)
        for field_, what, known, wanted in (
            ("slos", "SLO", seen, adj.slos),
            ("services", "service", services, adj.services),
        ):
            unknown = [n for n in wanted if n not in known]
            if unknown:
                raise SpecError(f"{where}: {field_}: no {what} named {', '.join(unknown)}")
    return spec


def load_spec(path: str | Path) -> SLOFileSpec:
    """Read and validate an SLO file."""
    text, source = read_config(path, SpecError)
    return parse_spec(text, source=source)
