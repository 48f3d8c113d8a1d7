"""Error-budget policies: budget left and burn rates -> actions (notify, review, freeze).

A policy is an ordered list of rules; each fires on the budget left
(``budget_remaining_at_most``) or on burn rates (``burn_rate_at_least`` over
every one of ``windows``). The strongest action fired wins and every rule that
fired gives a reason. Without a policy file every SLO gets
:data:`DEFAULT_POLICY` (the SLI/SLO-tracking design's thresholds):

- budget left <= 50%: notify the owning team;
- budget left <= 25%: review reliability work with the team and product;
- budget left <= 0: freeze feature deployments;
- burning at 14.4x or more over both 1h and 5m (the page condition: 2% of a
  30-day budget per hour): freeze deployments until the burn stops.

Windows are named as for a 30-day period (``5m``, ``30m``, ``1h``, ``2h``,
``6h``, ``1d``, ``3d``) and scale with the SLO's period as the alerts do;
``period`` is the whole period. A policy file (YAML) overrides the default,
for all SLOs or per SLO::

    version: 1
    default:                       # for every SLO not listed under slos
      - action: notify
        when: {budget_remaining_at_most: 0.5}
      - action: freeze
        when: {burn_rate_at_least: 6, windows: [6h, 30m]}
        message: page-level burn; fix first
    slos:
      predictor-accuracy:          # replaces the default for this SLO
        - action: review
          when: {budget_remaining_at_most: 0}
    min_coverage: 0.1              # budget alerts wait for 10% of the period's data

``min_coverage`` (default :data:`DEFAULT_MIN_COVERAGE`) is the share of the
period the period figures must cover before the generated budget alerts
(SLOErrorBudgetLow, SLOBreach) may fire: on a fresh history a single early
failure would otherwise weigh as much as a month lets it. 10% of 30 days is
3 days, the longest window the burn-rate ticket reads, which watches the
budget meanwhile.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from slolab.slo import conventions as c
from slolab.slo.durations import format_duration
from slolab.slo.files import read_config

__all__ = [
    "DEFAULT_MIN_COVERAGE",
    "DEFAULT_POLICY",
    "PERIOD",
    "WINDOWS",
    "Action",
    "Decision",
    "Facts",
    "Policies",
    "Policy",
    "PolicyError",
    "Rule",
    "load_policies",
    "parse_policies",
    "parse_policy_mapping",
]

PERIOD = "period"
# Share of the period the figures must cover before budget alerts fire: 10% is
# the Workbook's slowest burn window (3d of 30d), which the ticket reads meanwhile.
DEFAULT_MIN_COVERAGE = 0.1
# Every window the generated rules record, named for a 30-day period, shortest first.
WINDOWS: tuple[str, ...] = tuple(
    format_duration(w)
    for w in sorted(
        {w for p in c.BURN_POLICIES for pair in p.pairs for w in (pair.long, pair.short)}
    )
)


class PolicyError(ValueError):
    """A policy file is invalid; the message names the file and the field."""


class Action(enum.IntEnum):
    """What a policy asks for, weakest first (the strongest fired wins)."""

    NONE = 0
    NOTIFY = 1
    REVIEW = 2
    FREEZE = 3

    @property
    def label(self) -> str:
        return {0: "ok", 1: "notify", 2: "review", 3: "freeze"}[self.value]

    @classmethod
    def parse(cls, text: str) -> Action:
        return {a.label: a for a in cls}[text]


@dataclass(frozen=True)
class Facts:
    """What a policy sees of one SLO: budget left and burn rates per window (None: no data)."""

    budget_remaining: float | None
    burn_rates: Mapping[str, float | None] = field(default_factory=dict)
    # Share of the period the period figures cover (None: not known, nothing held).
    coverage: float | None = None


@dataclass(frozen=True)
class Rule:
    action: Action
    budget_remaining_at_most: float | None = None
    burn_rate_at_least: float | None = None
    windows: tuple[str, ...] = ()
    message: str = ""

    def reason(self, facts: Facts) -> str | None:
        """Why this rule fires on ``facts``, or None when it does not (or lacks data)."""
        if self.budget_remaining_at_most is not None:
            left = facts.budget_remaining
            if left is None or left > self.budget_remaining_at_most:
                return None
            why = (
                f"error budget left {left:.1%} <= {self.budget_remaining_at_most:.0%}"
                if self.budget_remaining_at_most > 0
                else f"error budget exhausted ({left:.1%} left)"
            )
        else:
            assert self.burn_rate_at_least is not None
            rates = [(w, facts.burn_rates.get(w)) for w in self.windows]
            if any(r is None or r < self.burn_rate_at_least for _, r in rates):
                return None
            shown = " and ".join(f"{r:.1f}x over {w}" for w, r in rates)
            why = f"burning {shown} (>= {self.burn_rate_at_least:g}x)"
        return f"{why}: {self.message}" if self.message else why

    @property
    def reads_the_period(self) -> bool:
        """Whether the rule decides on the period's figures (budget left, period burn)."""
        return self.budget_remaining_at_most is not None or PERIOD in self.windows


@dataclass(frozen=True)
class Decision:
    action: Action
    reasons: tuple[str, ...] = ()

    @property
    def freezes_deploys(self) -> bool:
        return self.action >= Action.FREEZE


@dataclass(frozen=True)
class Policy:
    name: str
    rules: tuple[Rule, ...]
    # Budget alerts wait until the period figures cover this share of the period.
    min_coverage: float = DEFAULT_MIN_COVERAGE

    def budget_threshold(self, action: Action) -> float | None:
        """The budget-left threshold at which ``action`` fires (the highest), or None.

        The generated budget alerts take theirs from here: SLOErrorBudgetLow at the
        review threshold, SLOBreach at the freeze one.
        """
        found = [
            r.budget_remaining_at_most
            for r in self.rules
            if r.action == action and r.budget_remaining_at_most is not None
        ]
        return max(found) if found else None

    def evaluate(self, facts: Facts) -> Decision:
        """The strongest action the rules call for, with every reason.

        As the budget alerts do, rules on the period's figures wait until they
        cover ``min_coverage`` of the period: on minutes of history one failed
        request can spend a month's budget. Burn-rate rules on shorter windows
        still decide meanwhile; what was held is said in the reasons.
        """
        held = facts.coverage is not None and facts.coverage < self.min_coverage
        fired, held_back = [], []
        for rule in self.rules:
            why = rule.reason(facts)
            if why and held and rule.reads_the_period:
                held_back.append((rule.action, why))
            elif why:
                fired.append((rule.action, why))
        # Strongest first, so the first reason is the one that decided (or would have).
        waiting = [f"{a.label} held: {why}" for a, why in sorted(held_back, key=lambda f: -f[0])]
        if waiting:
            assert facts.coverage is not None
            waiting.append(
                f"held while the period figures cover {facts.coverage:.1%} of the period "
                f"(policy min_coverage {self.min_coverage:.0%})"
            )
        if not fired:
            return Decision(Action.NONE, tuple(waiting))
        strongest = max(a for a, _ in fired)
        ordered = sorted(fired, key=lambda f: -f[0])
        return Decision(strongest, (*(f"{a.label}: {why}" for a, why in ordered), *waiting))


DEFAULT_POLICY = Policy(
    "default",
    (
        Rule(Action.NOTIFY, budget_remaining_at_most=0.5, message="notify the owning team"),
        Rule(
            Action.REVIEW,
            budget_remaining_at_most=0.25,
            message="review reliability work with the team and product owner",
        ),
        Rule(Action.FREEZE, budget_remaining_at_most=0.0, message="freeze feature deployments"),
        Rule(
            Action.FREEZE,
            burn_rate_at_least=14.4,
            windows=("1h", "5m"),
            message="fast burn: freeze deployments until it stops",
        ),
    ),
)


@dataclass(frozen=True)
class Policies:
    default: Policy = DEFAULT_POLICY
    per_slo: Mapping[str, Policy] = field(default_factory=dict)

    def for_slo(self, name: str) -> Policy:
        return self.per_slo.get(name, self.default)


# --- the policy file ----------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _When(_Strict):
    budget_remaining_at_most: float | None = None
    burn_rate_at_least: Annotated[float, Field(gt=0)] | None = None
    windows: tuple[str, ...] = ()

    @field_validator("windows")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for w in value:
            if w not in (*WINDOWS, PERIOD):
                raise ValueError(f"{w!r} is not one of {', '.join((*WINDOWS, PERIOD))}")
        return value

    @model_validator(mode="after")
    def _one(self) -> _When:
        budget, burn = (
            self.budget_remaining_at_most is not None,
            self.burn_rate_at_least is not None,
        )
        if budget == burn:
            raise ValueError("give exactly one of budget_remaining_at_most or burn_rate_at_least")
        if burn and not self.windows:
            raise ValueError("burn_rate_at_least needs windows, e.g. [1h, 5m]")
        if budget and self.windows:
            raise ValueError("windows only go with burn_rate_at_least")
        return self


class _RuleSpec(_Strict):
    action: Literal["notify", "review", "freeze"]
    when: _When
    message: str = ""


class _FileSpec(_Strict):
    version: Literal[1] = 1
    default: list[_RuleSpec] | None = None
    slos: dict[str, list[_RuleSpec]] = Field(default_factory=dict)
    min_coverage: float = DEFAULT_MIN_COVERAGE

    @field_validator("min_coverage")
    @classmethod
    def _share(cls, value: float) -> float:
        if not 0 <= value <= 1:
            raise ValueError(f"{value:g} is not a share of the period from 0 to 1, e.g. 0.1")
        return value


def _policy(name: str, rules: Sequence[_RuleSpec], min_coverage: float) -> Policy:
    return Policy(
        name,
        tuple(
            Rule(
                Action.parse(r.action),
                budget_remaining_at_most=r.when.budget_remaining_at_most,
                burn_rate_at_least=r.when.burn_rate_at_least,
                windows=r.when.windows,
                message=r.message,
            )
            for r in rules
        ),
        min_coverage,
    )


def parse_policy_mapping(raw: object, source: str = "policies.yaml") -> Policies:
    """Validate a policy already read from YAML (a file, or ``policy:`` in slos.yaml)."""
    try:
        spec = _FileSpec.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-"))
            msg = str(e["msg"]).removeprefix("Value error, ")
            lines.append(f"{source}: {loc}: {msg}" if loc else f"{source}: {msg}")
        raise PolicyError("\n".join(lines)) from None
    cover = spec.min_coverage
    if spec.default is not None:
        default = _policy("default", spec.default, cover)
    elif cover != DEFAULT_POLICY.min_coverage:
        default = replace(DEFAULT_POLICY, min_coverage=cover)
    else:
        default = DEFAULT_POLICY
    per_slo = {name: _policy(name, rules, cover) for name, rules in spec.slos.items()}
    return Policies(default, MappingProxyType(per_slo))


def parse_policies(text: str, source: str = "policies.yaml") -> Policies:
    """Parse a policy file; raise :class:`PolicyError` naming the field."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: invalid YAML: {exc}") from None
    return parse_policy_mapping(raw, source)


def load_policies(path: str | Path | None) -> Policies:
    """Read a policy file; ``None`` gives the default policy for every SLO."""
    if path is None:
        return Policies()
    text, source = read_config(path, PolicyError)
    return parse_policies(text, source=source)
