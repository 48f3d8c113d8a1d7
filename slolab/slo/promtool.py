"""promtool as a rule evaluator: run the generated rules over given input series and
read back what each expression evaluated to (``promtool test rules``, expecting nothing).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from slolab.slo.durations import parse_duration
from slolab.slo.synthetic import SimulationError

__all__ = ["at_own_intervals", "run_rule_tests"]


def at_own_intervals(groups: Sequence[dict[str, Any]], step: float) -> list[dict[str, Any]]:
    """``groups`` for promtool evaluating every ``step`` seconds, each at its own interval.

    promtool runs every group at the test's evaluation interval. A group of
    recording rules with a longer interval (the aggregates: 5m) gets each
    expression gated to record only at its own interval (at times that are
    multiples of it), so the samples it writes, and every figure built from
    them, are those of a real Prometheus. Only range functions read those
    series, and they skip the stale markers written in between. Groups with
    alerts are left alone: their ``for:`` and timing would change.
    """
    out = []
    for group in groups:
        every = parse_duration(group.get("interval", "1m")).total_seconds()
        if every > step and all("record" in r for r in group["rules"]):
            gate = f"(vector(time()) % {every:g} < {step:g})"
            rules = [{**r, "expr": f"({r['expr']}) and on() {gate}"} for r in group["rules"]]
            group = {**group, "rules": rules}
        out.append(group)
    return out


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        raise SimulationError(
            "promtool not found: install Prometheus' promtool (Debian: apt-get install prometheus)"
        )
    return path


_GOT = re.compile(r'expr: "(?P<expr>(?:[^"\\]|\\.)*)", time: .*?\n\s*exp:.*?\n\s*got: (?P<got>.*)')


def run_rule_tests(
    groups: list[dict[str, Any]],
    series: list[dict[str, str]],
    tests: list[dict[str, Any]],
    evaluation: int,
    scrape: int,
) -> dict[str, float]:
    """Evaluate ``tests`` (expecting nothing) every ``evaluation`` seconds over ``series``
    scraped every ``scrape`` seconds; return each expression's single value."""
    with tempfile.TemporaryDirectory(prefix="slolab-simulate-") as tmp:
        timed = at_own_intervals(groups, evaluation)
        Path(tmp, "rules.yml").write_text(yaml.safe_dump({"groups": timed}), encoding="utf-8")
        test = {
            "rule_files": ["rules.yml"],
            "evaluation_interval": f"{evaluation}s",
            # promtool runs every group at each step, in map order unless told: the
            # generated order (alerts' group first) reads each aggregate one
            # evaluation after it is recorded, every time.
            "group_eval_order": [g["name"] for g in groups],
            "tests": [{"interval": f"{scrape}s", "input_series": series,
                       "promql_expr_test": tests}],
        }  # fmt: skip
        Path(tmp, "test.yml").write_text(yaml.safe_dump(test, width=10**9), encoding="utf-8")
        proc = subprocess.run([_promtool(), "test", "rules", "test.yml"], cwd=tmp,
                              capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    out = proc.stdout + proc.stderr
    values = {}
    for m in _GOT.finditer(out):
        expr = m.group("expr").encode().decode("unicode_escape")
        got = m.group("got").strip()
        if got != "nil":
            values[expr] = float(got.rsplit(" ", 1)[-1])
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and "FAILED" not in out):
        raise SimulationError(f"promtool test rules failed: {out.strip()[-2000:]}")
    return values
