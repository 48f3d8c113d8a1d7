"""``slolab scenario list | show | check | predict | run | capacity`` (docs/scenarios.md)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta
from pathlib import Path

from slolab.errors import CLIError

__all__ = ["find", "register", "scenario_dir"]

FORMATS = ("text", "markdown", "html", "json")


def scenario_dir(repo: Path | None = None) -> Path:
    """Where scenarios are found by name: $SLOLAB_SCENARIOS_DIR, or ``repo``'s (the
    checkout's) scenarios/."""
    from slolab.lab.config import repo_root

    return Path(os.environ.get("SLOLAB_SCENARIOS_DIR") or (repo or repo_root()) / "scenarios")


def shipped() -> list[str]:
    """Names of the shipped scenarios, sorted."""
    return sorted(p.stem for p in scenario_dir().glob("*.yaml"))


def find(name_or_path: str) -> Path:
    """A scenario file from its name (scenarios/NAME.yaml) or a path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        return path
    found = scenario_dir() / f"{name_or_path}.yaml"
    if not found.is_file():
        raise CLIError(f"no scenario {name_or_path!r} (shipped: {', '.join(shipped())})")
    return found


def _slos(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import slolab.slo as slo_pkg
    from slolab.lab.config import repo_root

    path = Path(args.slos or repo_root() / "slos.yaml")
    try:
        return slo_pkg.load(path)
    except (OSError, ValueError) as exc:
        raise CLIError(f"{path}: {exc}") from None


def load(args: argparse.Namespace, name: str):  # type: ignore[no-untyped-def]
    """The checked scenario ``name`` and the SLOs; a bad file is a CLIError (exit 2)."""
    from slolab.scenario.spec import ScenarioError, load_scenario

    slos = _slos(args)
    try:
        return load_scenario(find(name), slos), slos
    except ScenarioError as exc:
        raise CLIError(f"{exc}\n{len(exc.problems)} problem(s): nothing runs") from None


def _cmd_list(args: argparse.Namespace) -> int:
    from slolab.scenario.spec import ScenarioError, load_scenario

    slos = _slos(args)
    for name in shipped():
        try:
            sc = load_scenario(scenario_dir() / f"{name}.yaml", slos)
        except ScenarioError as exc:
            print(f"{name:28} INVALID: {exc.problems[0]}")
            continue
        minutes = sc.duration.total_seconds() / 60
        length = f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.0f} h"
        print(f"{name:28} {length:>7}  {sc.lesson.splitlines()[0][:90]}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    sc, _ = load(args, args.name)
    print(f"{sc.name} ({sc.source}), {sc.duration}\n\n{sc.lesson}\n\nload:")
    for p in sc.load:
        print(f"  from {p.start}: {p.shape}, {p.users} users")
    print("faults:" if sc.faults else "faults: none")
    for f in sc.faults:
        print(f"  {f.start} - {f.end}: {f.describe()}")
    if sc.adjustments:
        print("budget adjustments (planned work: no page, no budget spent):")
    for a in sc.adjustments:
        print(f"  {a.start} - {a.end}: {a.reason} ({', '.join(a.slos)})")
    print("expectations:")
    for e in sc.alerts:
        print(f"  {e.describe()}" + (f" (from {e.origin})" if e.fire else ""))
    for b in sc.budgets:
        print(f"  {b.describe()}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    for name in args.files:
        sc, _ = load(args, name)
        print(f"{sc.source}: scenario {sc.name} valid")
    return 0


def _burn_curves(prediction) -> dict[str, list[tuple[timedelta, float]]]:  # type: ignore[no-untyped-def]
    from slolab.slo.timeline import budget_spent

    slos = {s.name: s for s in prediction.slos}
    out = {}
    for name, segs in prediction.segments.items():
        points = [(timedelta(0), 0.0)]
        for s in segs:
            before = [x for x in segs if x.end <= s.start]
            points.append((s.start, budget_spent(slos[name], before)))
            points.append((s.end, budget_spent(slos[name], [*before, s])))
        points.append((prediction.scenario.duration, budget_spent(slos[name], segs)))
        out[name] = points
    return out


def emit(view, fmt: str, output: str | None) -> None:  # type: ignore[no-untyped-def]
    """Print ``view`` in ``fmt``; with ``output``, also write all four formats there."""
    from slolab.scenario import render

    writers = {
        "text": render.to_terminal,
        "markdown": render.to_markdown,
        "html": render.to_html,
        "json": render.to_json,
    }
    print(writers[fmt](view), end="")
    if output:
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        suffix = {"text": "txt", "markdown": "md", "html": "html", "json": "json"}
        for name, write in writers.items():
            (out / f"{view.scenario.name}-{view.mode}.{suffix[name]}").write_text(
                write(view), encoding="utf-8"
            )
        print(f"scorecard written to {out}/", file=sys.stderr)


def _cmd_predict(args: argparse.Namespace) -> int:
    from slolab.scenario.predict import predict
    from slolab.scenario.render import CardView
    from slolab.slo.simulate import SimulationError

    sc, slos = load(args, args.name)
    try:
        prediction = predict(sc, slos)
    except SimulationError as exc:
        raise CLIError(str(exc)) from None
    view = CardView(
        sc,
        prediction.scorecard,
        "predicted",
        prediction.outcome.firings,
        _burn_curves(prediction),
        prediction.notes,
    )
    emit(view, args.format, args.output)
    return 0 if prediction.scorecard.passed else 1


def _cmd_run(args: argparse.Namespace) -> int:
    from slolab.scenario.run import run_cli

    return run_cli(args)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--slos", help="the SLO file (default: the checkout's slos.yaml)")


def _add_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="text", help="what to print")
    p.add_argument(
        "--output",
        metavar="DIR",
        help="also write the scorecard there as .txt, .md, .html and .json",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scenario", help="game days and load tests scored against the SLOs")
    s = p.add_subparsers(dest="scenario_command", required=True)

    q = s.add_parser("list", help="the shipped scenarios")
    _add_common(q)
    q.set_defaults(func=_cmd_list)

    q = s.add_parser("show", help="what a scenario does and expects")
    q.add_argument("name", help="a shipped scenario's name or a file")
    _add_common(q)
    q.set_defaults(func=_cmd_show)

    q = s.add_parser("check", help="validate scenario files (exit 2 naming file, line, field)")
    q.add_argument("files", nargs="+", metavar="FILE")
    _add_common(q)
    q.set_defaults(func=_cmd_check)

    q = s.add_parser("predict", help="the scorecard the generated alerts will give (offline)")
    q.add_argument("name", help="a shipped scenario's name or a file")
    _add_common(q)
    _add_output(q)
    q.set_defaults(func=_cmd_predict)

    q = s.add_parser("run", help="run a scenario against a running deployment and score it")
    q.add_argument("name", help="a shipped scenario's name or a file")
    _add_common(q)
    _add_output(q)
    from slolab.scenario.run import add_arguments

    add_arguments(q)
    q.set_defaults(func=_cmd_run)

    from slolab.scenario.capacity import add_parser as add_capacity

    add_capacity(s)
