"""``slolab scenario run``: a game day against a running deployment, watched and scored.

Load (Locust, headless, one subprocess per phase in its own process group) and
faults (the services' admin API, as ``slolab fault set`` does) on the
scenario's schedule; Prometheus (``ALERTS``, the SLIs) and Alertmanager (what
reached it) polled meanwhile; the scorecard at the end, beside the prediction.

Nothing is left broken: every fault is set with ``expires_in_s`` (it switches
itself off shortly after its step ends, even if this process is killed), and
Ctrl-C, SIGTERM, an exception or a service that stops answering clear every
fault this run set before the command returns.

A scenario's budget adjustments take effect in the rules themselves
(:class:`RuleAdjustments`): the SLO rule files Prometheus reads are regenerated
with them, at the run's wall-clock times, and Prometheus reloads them.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from slolab.contract import FAULTS, PORTS, SERVICES
from slolab.errors import CLIError
from slolab.scenario.spec import FaultStep, LoadPhase, Scenario
from slolab.slo import conventions as c
from slolab.slo import promql
from slolab.slo.model import SLO, Adjustment
from slolab.slo.scorecard import Firing, Outcome, Scorecard, score

__all__ = [
    "Endpoints",
    "FaultSwitch",
    "GameDay",
    "RuleAdjustments",
    "RunError",
    "StateFile",
    "add_arguments",
    "run_cli",
]

# A fault switches itself off this long after its step should end (runner killed hard).
EXPIRY_GRACE_S = 15.0
_OFF: dict[str, Any] = {f.name: (False if f.kind == "switch" else 0) for f in FAULTS}


class RunError(RuntimeError):
    """The run cannot go on (a service stopped answering); faults are cleared."""


@dataclass(frozen=True)
class Endpoints:
    prometheus: str
    alertmanager: str
    services: Mapping[str, str]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **given: str | None) -> Endpoints:
        """Explicit URLs, else $PROMETHEUS_URL, $ALERTMANAGER_URL, $TASKS_URL, $PREDICTOR_URL,
        else the lab's defaults."""
        env = os.environ if env is None else env

        def pick(name: str) -> str:
            url = given.get(name) or env.get(f"{name.upper()}_URL")
            return (url or f"http://127.0.0.1:{PORTS[name]}").rstrip("/")

        return cls(pick("prometheus"), pick("alertmanager"), {s: pick(s) for s in SERVICES})


class FaultSwitch:
    """Set and reset faults through ``/admin/faults``; remembers what it set."""

    def __init__(self, urls: Mapping[str, str], token: str | None, timeout: float = 3.0) -> None:
        self.urls, self.token, self.timeout = dict(urls), token, timeout
        self.active: dict[str, set[str]] = {}

    def _put(self, service: str, body: dict[str, Any]) -> None:
        try:
            resp = httpx.put(f"{self.urls[service]}/admin/faults", json=body, timeout=self.timeout,
                             headers={"Authorization": f"Bearer {self.token}"})  # fmt: skip
        except httpx.HTTPError as exc:
            raise RunError(f"{service} at {self.urls[service]} does not answer: {exc}") from None
        if resp.status_code != 200:
            raise RunError(f"{service} refused {body}: {resp.status_code} {resp.text[:200]}")

    def check(self, service: str) -> None:
        """Raise RunError unless ``service``'s admin surface answers this token."""
        try:
            resp = httpx.get(f"{self.urls[service]}/admin/faults", timeout=self.timeout,
                             headers={"Authorization": f"Bearer {self.token}"})  # fmt: skip
        except httpx.HTTPError as exc:
            raise RunError(f"{service} at {self.urls[service]} does not answer: {exc}") from None
        if resp.status_code != 200:
            raise RunError(f"{service}'s admin API answered {resp.status_code}: check "
                           "SLOLAB_ADMIN_TOKEN")  # fmt: skip

    def set(self, step: FaultStep, expires_in: float) -> None:
        # Remembered first: a PUT that failed may still have reached the service.
        self.active.setdefault(step.service, set()).update(step.settings)
        self._put(step.service, {**step.settings, "expires_in_s": round(expires_in, 1)})

    def reset(self, step: FaultStep) -> None:
        self._put(step.service, {name: _OFF[name] for name in step.settings})
        self.active.get(step.service, set()).difference_update(step.settings)

    def clear_all(self, attempts: int = 3) -> list[str]:
        """Switch off every fault this run set; the problems left (empty: all clear)."""
        problems = []
        for service, names in sorted(self.active.items()):
            if not names:
                continue
            for attempt in range(attempts):
                try:
                    self._put(service, {name: _OFF[name] for name in sorted(names)})
                    names.clear()
                    break
                except RunError as exc:
                    if attempt == attempts - 1:
                        problems.append(f"{exc} (its faults expire by themselves)")
                    else:
                        time.sleep(0.5)
        return problems


class RuleAdjustments:
    """A scenario's budget adjustments made live, in the rules Prometheus evaluates.

    The SLO rule files of the services concerned, in ``rules_dir`` (the folder
    Prometheus reads them from), are regenerated from the SLOs with the
    adjustments added at the run's wall-clock times, written in place and
    reloaded (``POST /-/reload``: Prometheus started with ``--web.enable-lifecycle``).
    Group intervals of the files found there are kept (the lab's fast copies).
    They are left so after the run: a past window only holds the burn alerts
    until their short windows have left it, exactly like one in ``slos.yaml``
    (put back the plain rules then, e.g. ``slolab slo generate``).
    """

    def __init__(self, rules_dir: Path, prometheus: str, timeout: float = 10.0) -> None:
        self.rules_dir, self.prometheus, self.timeout = Path(rules_dir), prometheus, timeout
        self.written: list[Path] = []

    @staticmethod
    def adjusted(scenario: Scenario, slos: Sequence[SLO], t0: float) -> list[SLO]:
        """``slos`` with the scenario's adjustments, its 0 at Unix time ``t0``."""
        origin = datetime.fromtimestamp(t0, UTC)
        out = []
        for slo in slos:
            added = tuple(
                Adjustment(f"{scenario.name}-{i}", a.reason, origin + a.start, a.duration)
                for i, a in enumerate(scenario.adjustments)
                if slo.name in a.slos
            )
            out.append(replace(slo, adjustments=slo.adjustments + added) if added else slo)
        return out

    def install(self, scenario: Scenario, slos: Sequence[SLO], t0: float) -> list[Path]:
        """Write and reload the adjusted rule files; return them. RunError if it cannot."""
        import yaml

        from slolab.lab.render import counts_its_interval, render_rule_files
        from slolab.slo.generate import GenerateOptions
        from slolab.slo.generate.rules import OUTPUT

        # The rule files of the services concerned only (one file per service).
        covered = {n for a in scenario.adjustments for n in a.slos}
        slos = [s for s in slos if s.service in {x.service for x in slos if x.name in covered}]
        plain = OUTPUT.render(slos, GenerateOptions())
        new = OUTPUT.render(self.adjusted(scenario, slos, t0), GenerateOptions())
        changed = [rel for rel, text in new.items() if text != plain.get(rel)]
        writes: list[tuple[Path, str, str | None]] = []
        for rel in changed:
            target = self.rules_dir / Path(rel).name
            try:
                current = yaml.safe_load(target.read_text()) or {}
            except (OSError, yaml.YAMLError) as exc:
                why = "--rules-dir must be the folder Prometheus reads the SLO rule files from"
                raise RunError(f"cannot read {target} ({exc}): {why}") from None
            ours = {g["name"]: g for g in yaml.safe_load(plain[rel])["groups"]}
            found = {g.get("name"): g for g in current.get("groups") or []}
            if set(found) != set(ours):
                raise RunError(
                    f"{target} holds groups {', '.join(map(str, found))}, not the "
                    f"generated {', '.join(ours)}: is it the SLO rules' folder?"
                )
            # The interval of the groups Prometheus runs (the lab retimes its copies).
            interval = next((str(found[n].get("interval")) for n, g in ours.items()
                             if not counts_its_interval(g)
                             and found[n].get("interval") != g.get("interval")), None)  # fmt: skip
            writes.append((target, new[rel], interval))
        with tempfile.TemporaryDirectory() as tmp:
            for target, text, interval in writes:
                source = Path(tmp) / target.name
                source.write_text(text)
                render_rule_files([str(source)], self.rules_dir, interval=interval)
                self.written.append(target)
        if writes:
            self._reload()
        return self.written

    def _reload(self) -> None:
        try:
            resp = httpx.post(f"{self.prometheus}/-/reload", timeout=self.timeout)
            info = httpx.get(f"{self.prometheus}/api/v1/status/runtimeinfo", timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise RunError(f"Prometheus at {self.prometheus} did not reload: {exc}") from None
        if resp.status_code != 200:
            raise RunError(
                f"Prometheus refused to reload the adjusted rules ({resp.status_code} "
                f"{resp.text.strip()[:200]}): started with --web.enable-lifecycle?"
            )
        if info.status_code == 200 and info.json()["data"].get("reloadConfigSuccess") is False:
            raise RunError("Prometheus could not load the adjusted rules: see its log")


class LoadDriver:
    """One headless Locust per load phase, each in its own process group."""

    def __init__(self, endpoints: Endpoints, log_dir: Path | None, token: str | None) -> None:
        from slolab.faults import feedback_token
        from slolab.lab.config import repo_root

        self.locustfile = repo_root() / "loadgen" / "locustfile.py"
        self.endpoints, self.log_dir = endpoints, log_dir
        # Ground truth needs the labeler's credential (derived from the admin token as
        # the services derive it); the admin token itself stays here: no faults from Locust.
        self.feedback = feedback_token({**os.environ, "SLOLAB_ADMIN_TOKEN": token or ""})
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, phase: LoadPhase, seconds: float) -> None:
        self.stop()
        env = {k: v for k, v in os.environ.items() if k != "SLOLAB_ADMIN_TOKEN"}  # no faults
        if self.feedback:
            env["SLOLAB_FEEDBACK_TOKEN"] = self.feedback
        env.update({"SCENARIO": phase.shape, "LOAD_USERS": str(phase.users),
                    "LOAD_SPAWN_RATE": f"{phase.spawn_rate:g}",
                    "TASKS_URL": self.endpoints.services["tasks"],
                    "PREDICTOR_URL": self.endpoints.services["predictor"]})  # fmt: skip
        argv = [sys.executable, "-m", "locust", "-f", str(self.locustfile), "--headless",
                "--only-summary", "--host", self.endpoints.services["tasks"],
                "-t", f"{max(math.ceil(seconds), 1)}s"]  # fmt: skip
        out = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / "locust.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # fmt: skip

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@dataclass
class Observed:
    """What the watcher saw: firings by (alert, slo), Alertmanager's, budget curves."""

    firings: dict[tuple[str, str], Firing] = field(default_factory=dict)
    before: set[tuple[str, str]] = field(default_factory=set)  # firing when the run began
    alertmanager: dict[tuple[str, str], float] = field(default_factory=dict)
    burn: dict[str, list[tuple[timedelta, float]]] = field(default_factory=dict)
    spent: dict[str, float] = field(default_factory=dict)
    adjusted: dict[str, tuple[float, float]] = field(default_factory=dict)  # first, last on


class Watcher:
    """Polls Prometheus (ALERTS, the SLIs) and Alertmanager (active alerts)."""

    def __init__(
        self,
        endpoints: Endpoints,
        slos: Sequence[SLO],
        timeout: float = 5.0,
        paused: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    ) -> None:
        self.endpoints, self.slos = endpoints, list(slos)
        self.client = httpx.Client(timeout=timeout)
        self.seen = Observed()
        self._last: set[tuple[str, str]] = set()
        # Per SLO its budget adjustments (from, to) in seconds of the run: no budget there.
        self.paused = {k: sorted(v) for k, v in (paused or {}).items() if v}
        self.t0: float | None = None  # the run's 0 in Unix time (set by GameDay)

    def _query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        resp = self.client.get(f"{self.endpoints.prometheus}/api/v1/query", params=params)
        resp.raise_for_status()
        return resp.json()["data"]["result"]

    def _firing(self) -> dict[tuple[str, str], str]:
        known = {s.name for s in self.slos}
        out = {}
        for r in self._query(promql.firing_alerts()):
            m = r["metric"]
            if m.get("slo") in known:
                out[(m["alertname"], m["slo"])] = m.get("severity", "")
        return out

    def ready(self) -> None:
        for name, url in (("Prometheus", self.endpoints.prometheus),
                          ("Alertmanager", self.endpoints.alertmanager)):  # fmt: skip
            try:
                resp = self.client.get(f"{url}/-/ready")
            except httpx.HTTPError as exc:
                raise RunError(f"{name} at {url} does not answer: {exc}") from None
            if resp.status_code != 200:
                raise RunError(f"{name} at {url} is not ready ({resp.status_code})")
        self.seen.before = set(self._firing())

    def poll(self, elapsed: float) -> None:
        at = timedelta(seconds=elapsed)
        now = self._firing()
        for key, severity in now.items():
            if key in self.seen.before:
                continue
            got = self.seen.firings.get(key)
            # firing again after a look that saw it resolved: it flapped
            starts = 1 if got is None else got.starts + (key not in self._last)
            self.seen.firings[key] = Firing(key[0], key[1], severity,
                                            got.first if got else at, at, 0, starts)  # fmt: skip
        self._last = set(now)
        if self.paused:
            for r in self._query(f"{c.RULE_ADJUSTMENT_ACTIVE} == 1"):
                name = r["metric"].get(c.LABEL_SLO, "")
                if name in self.paused:
                    first = self.seen.adjusted.get(name, (elapsed, elapsed))[0]
                    self.seen.adjusted[name] = (first, elapsed)
        try:
            resp = self.client.get(f"{self.endpoints.alertmanager}/api/v2/alerts")
            for a in resp.json() if resp.status_code == 200 else []:
                key = (a["labels"].get("alertname", ""), a["labels"].get("slo", ""))
                self.seen.alertmanager.setdefault(key, elapsed)
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            pass  # Alertmanager's view is a note; Prometheus decides

    def _ratio(self, slo: SLO, seconds: float, at: float | None = None) -> float | None:
        window = f"{max(math.ceil(seconds), 1)}s"
        try:
            result = self._query(promql.error_ratio(slo, window, func="increase"), at)
        except (httpx.HTTPError, KeyError, ValueError):
            return None
        ratio = float(result[0]["value"][1]) if result else math.nan
        return None if math.isnan(ratio) else ratio

    def _outside(self, slo: SLO, elapsed: float) -> list[tuple[float, float]]:
        """The stretches of the run so far outside ``slo``'s adjustments."""
        out, at = [], 0.0
        for lo, hi in self.paused.get(slo.name, ()):
            if lo > at:
                out.append((at, min(lo, elapsed)))
            at = max(at, hi)
        if at < elapsed:
            out.append((at, elapsed))
        return [(a, b) for a, b in out if b - a >= 1]

    def budget(self, elapsed: float) -> None:
        """Budget spent since the start: error ratio over the run x its length ÷ a period's.

        Inside a budget adjustment nothing counts (the rules leave it out too): an
        adjusted SLO sums the stretches outside its adjustments, each read at its end.
        """
        for slo in self.slos:
            if slo.name in self.paused and self.t0 is not None:
                parts = [(self._ratio(slo, b - a, self.t0 + b), b - a)
                         for a, b in self._outside(slo, elapsed)]  # fmt: skip
                bad = sum(r * n for r, n in parts if r is not None)
                if parts and all(r is None for r, _ in parts):
                    continue
            else:
                ratio = self._ratio(slo, elapsed)
                if ratio is None:
                    continue
                bad = ratio * elapsed
            spent = bad / (slo.error_budget * slo.period.total_seconds())
            self.seen.spent[slo.name] = spent
            self.seen.burn.setdefault(slo.name, []).append((timedelta(seconds=elapsed), spent))


@dataclass
class RunResult:
    scenario: Scenario
    outcome: Outcome
    scorecard: Scorecard
    observed: Observed
    notes: list[str]
    predicted: Any = None  # slolab.scenario.predict.Prediction, when it could run


class GameDay:
    """One run of ``scenario``; ``on_update(card, elapsed)`` after every poll (live views)."""

    def __init__(
        self,
        scenario: Scenario,
        slos: Sequence[SLO],
        endpoints: Endpoints,
        token: str | None,
        *,
        load: bool = True,
        poll: float = 2.0,
        log_dir: Path | None = None,
        echo: Callable[[str], None] = print,
        on_update: Callable[[Scorecard, float, Observed], None] | None = None,
        predict: bool = True,
        stop: threading.Event | None = None,
        rules: RuleAdjustments | None = None,
    ) -> None:
        self.scenario, self.slos, self.endpoints = scenario, list(slos), endpoints
        self.faults = FaultSwitch(endpoints.services, token)
        self.load = LoadDriver(endpoints, log_dir, token) if load and scenario.load else None
        paused = {s.name: [(a.start.total_seconds(), a.end.total_seconds())
                           for a in scenario.adjusted(s.name)] for s in slos}  # fmt: skip
        self.watcher = Watcher(endpoints, slos, paused=paused)
        if scenario.adjustments and rules is None:
            raise RunError("the scenario declares budget adjustments: they need the folder "
                           "Prometheus reads the SLO rules from (--rules-dir)")  # fmt: skip
        self.rules = rules
        self.poll, self.echo, self.on_update = poll, echo, on_update
        self.want_prediction = predict
        self.stop = stop or threading.Event()  # set: end the run early (faults cleared)

    def _events(self) -> list[tuple[float, int, str, Any]]:
        sc = self.scenario
        events: list[tuple[float, int, str, Any]] = []
        for i, p in enumerate(sc.load):
            end = sc.load[i + 1].start if i + 1 < len(sc.load) else sc.duration
            events.append(
                (p.start.total_seconds(), 1, "load", (p, (end - p.start).total_seconds()))
            )
        for f in sc.faults:
            events.append((f.start.total_seconds(), 2, "set", f))
            events.append((f.end.total_seconds(), 0, "reset", f))  # ends before starts at a tie
        return sorted(events, key=lambda e: (e[0], e[1]))

    def _apply(self, kind: str, what: Any, elapsed: float) -> None:
        if kind == "load" and self.load is not None:
            phase, seconds = what
            self.echo(f"[{elapsed:6.0f}s] load: {phase.shape}, {phase.users} users")
            self.load.start(phase, seconds)
        elif kind == "set":
            self.echo(f"[{elapsed:6.0f}s] fault on: {what.describe()}")
            self.faults.set(what, what.duration.total_seconds() + EXPIRY_GRACE_S)
        elif kind == "reset":
            self.echo(f"[{elapsed:6.0f}s] fault off: {what.describe()}")
            self.faults.reset(what)

    def _card(self, elapsed: float, final: bool, prediction: Any = None) -> Scorecard:
        seen = self.watcher.seen
        outcome = Outcome(list(seen.firings.values()), dict(seen.spent),
                          timedelta(seconds=elapsed))  # fmt: skip
        return score(self.scenario.alerts, self.scenario.budgets, outcome,
                     predicted=getattr(prediction, "outcome", None),
                     formula=getattr(prediction, "formula", None), final=final)  # fmt: skip

    def run(self) -> RunResult:
        """Run to the end; clear every fault (and stop the load) whatever happens."""
        for service in sorted({f.service for f in self.scenario.faults}):
            self.faults.check(service)
        self.watcher.ready()
        pool = ThreadPoolExecutor(max_workers=1)
        future: Future[Any] | None = None
        if self.want_prediction:
            from slolab.scenario.predict import predict

            future = pool.submit(predict, self.scenario, self.slos)
        notes: list[str] = []
        t0 = time.time()
        if self.rules is not None and self.scenario.adjustments:
            for path in self.rules.install(self.scenario, self.slos, t0):
                self.echo(f"budget adjustments in {path} (Prometheus reloaded)")
        self.watcher.t0 = t0
        try:
            elapsed = self._loop(t0)
        finally:
            held = _hold_interrupts()  # a second Ctrl-C must not stop the clearing
            if self.load is not None:
                self.load.stop()
            problems = self.faults.clear_all()
            _restore(held)
            for p in problems:
                self.echo(f"could not clear: {p}")
            pool.shutdown(wait=False, cancel_futures=True)
        prediction = None
        if future is not None:
            try:
                prediction = future.result(timeout=600)
            except Exception as exc:  # the live card stands without it
                notes.append(f"no prediction: {exc}")
        seen = self.watcher.seen
        notes += [f"already firing when the run began (not scored): {a} for {s}"
                  for a, s in sorted(seen.before)]  # fmt: skip
        notes += [f"{a} for {s} fired in Prometheus but never reached Alertmanager"
                  for (a, s) in seen.firings if (a, s) not in seen.alertmanager]  # fmt: skip
        for name in self.watcher.paused:
            on = seen.adjusted.get(name)
            notes.append(
                f"budget adjustment on in Prometheus for {name} from {on[0]:.0f} s to {on[1]:.0f} s"
                if on
                else f"budget adjustment for {name} never on in Prometheus "
                f"({c.RULE_ADJUSTMENT_ACTIVE}): its rules lack it"
            )
        card = self._card(elapsed, True, prediction)
        outcome = Outcome(list(seen.firings.values()), dict(seen.spent),
                          timedelta(seconds=elapsed))  # fmt: skip
        return RunResult(self.scenario, outcome, card, seen, notes, prediction)

    def _loop(self, t0: float) -> float:
        events = self._events()
        total = self.scenario.duration.total_seconds()
        start = time.monotonic() - (time.time() - t0)  # 0 is t0 (the adjustments count from it)
        next_poll = 0.0
        while True:
            elapsed = time.monotonic() - start
            while events and events[0][0] <= elapsed:
                _, _, kind, what = events.pop(0)
                self._apply(kind, what, elapsed)
            if elapsed >= next_poll or elapsed >= total:
                try:
                    self.watcher.poll(elapsed)
                    self.watcher.budget(elapsed)
                except httpx.HTTPError as exc:
                    self.echo(f"[{elapsed:6.0f}s] Prometheus did not answer: {exc}")
                next_poll = elapsed + self.poll
                if self.on_update is not None:
                    self.on_update(self._card(elapsed, False), elapsed, self.watcher.seen)
            if elapsed >= total or self.stop.is_set():
                return elapsed
            upcoming = min([next_poll, total] + [e[0] for e in events[:1]])
            self.stop.wait(max(min(upcoming - (time.monotonic() - start), self.poll), 0.05))


class StateFile:
    """The live scorecard as JSON in ``path`` (the dashboard reads it), replaced atomically."""

    def __init__(self, path: Path, scenario: Scenario) -> None:
        self.path, self.scenario = path, scenario

    def write(self, card: Scorecard, elapsed: float, seen: Observed, running: bool = True,
              notes: Sequence[str] = ()) -> None:  # fmt: skip
        import json

        from slolab.scenario.render import CardView, state

        view = CardView(self.scenario, card, "observed", list(seen.firings.values()),
                        seen.burn, notes)  # fmt: skip
        doc = state(view, timedelta(seconds=elapsed), running)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, self.path)

    def __call__(self, card: Scorecard, elapsed: float, seen: Observed) -> None:
        self.write(card, elapsed, seen)


def _hold_interrupts() -> dict[int, Any]:
    try:
        return {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals go elsewhere anyway
        return {}


def _restore(held: Mapping[int, Any]) -> None:
    for s, handler in held.items():
        signal.signal(s, handler)


# --- the command ---------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prometheus", help="Prometheus URL (default $PROMETHEUS_URL or the lab's)")
    p.add_argument("--alertmanager",
                   help="Alertmanager URL (default $ALERTMANAGER_URL or the lab's)")  # fmt: skip
    p.add_argument("--tasks-url", help="tasks base URL (default $TASKS_URL or the lab's)")
    p.add_argument("--predictor-url",
                   help="predictor base URL (default $PREDICTOR_URL or the lab's)")  # fmt: skip
    p.add_argument("--no-load", action="store_true",
                   help="start no Locust: the deployment has its own load")  # fmt: skip
    p.add_argument("--poll", type=float, default=2.0, help="seconds between looks (default 2)")
    p.add_argument("--state", metavar="FILE",
                   help="keep the live scorecard in this JSON file (slolab dashboard "
                   "--gameday-state shows it)")  # fmt: skip
    p.add_argument("--no-predict", action="store_true",
                   help="skip the offline prediction beside the observed times")  # fmt: skip
    p.add_argument("--rules-dir", metavar="DIR",
                   help="the folder Prometheus reads the SLO rule files from: a scenario's "
                   "budget adjustments are written there and Prometheus reloaded")  # fmt: skip


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_cli(args: argparse.Namespace) -> int:
    """``slolab scenario run``: 0 all expectations met, 1 one failed (named), 2 bad input."""
    from slolab.scenario.cli import emit, load
    from slolab.scenario.render import CardView

    scenario, slos = load(args, args.name)
    token = os.environ.get("SLOLAB_ADMIN_TOKEN")
    if scenario.faults and not token:
        raise CLIError("SLOLAB_ADMIN_TOKEN is not set: the scenario switches faults")
    endpoints = Endpoints.from_env(prometheus=args.prometheus, alertmanager=args.alertmanager,
                                   tasks=args.tasks_url, predictor=args.predictor_url)  # fmt: skip
    live = StateFile(Path(args.state), scenario) if args.state else None
    if scenario.adjustments and not args.rules_dir:
        raise CLIError(f"{scenario.name} declares budget adjustments: give --rules-dir, the "
                       "folder Prometheus reads the SLO rule files from (make lab "
                       "SCENARIO=NAME passes its own)")  # fmt: skip
    rules = RuleAdjustments(Path(args.rules_dir), endpoints.prometheus) if args.rules_dir else None
    day = GameDay(scenario, slos, endpoints, token, load=not args.no_load, poll=args.poll,
                  log_dir=Path(args.output) if args.output else None,
                  echo=lambda s: print(s, file=sys.stderr, flush=True),
                  predict=not args.no_predict, on_update=live, rules=rules)  # fmt: skip
    # A background process of a non-interactive shell ignores SIGINT from birth: take it
    # back, and SIGTERM too, so both end the run the way Ctrl-C does (faults cleared).
    previous = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    print(f"game day {scenario.name}: {scenario.duration} against {endpoints.prometheus}",
          file=sys.stderr, flush=True)  # fmt: skip
    try:
        result = day.run()
    except RunError as exc:
        raise CLIError(f"{exc}; every fault this run set is cleared") from None
    except KeyboardInterrupt:
        print("game day interrupted: every fault this run set is cleared", file=sys.stderr)
        return 130
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    view = CardView(scenario, result.scorecard, "observed", list(result.outcome.firings),
                    result.observed.burn, result.notes,
                    {"alertmanager_seen_s": {f"{a} {s}": t for (a, s), t in
                                             result.observed.alertmanager.items()}})  # fmt: skip
    emit(view, args.format, args.output)
    if live is not None:
        elapsed = (result.outcome.elapsed or scenario.duration).total_seconds()
        live.write(result.scorecard, elapsed, result.observed, False, result.notes)
    for failure in result.scorecard.failures:
        print(f"failed: {failure}", file=sys.stderr)
    return 0 if result.scorecard.passed else 1
