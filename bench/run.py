"""The benchmark plan: which services, which workloads, in which order, measured how.

Six configurations run side by side (each its own predictor + tasks pair, all
started before the first measurement; ``CONFIGS`` says how each is set):

- ``off``:       ``SLOLAB_INSTRUMENTATION=off`` — no request metrics, no tracing;
- ``metrics``:   request metrics only (``OTEL_SDK_DISABLED=true``);
- ``unsampled``: metrics + our tracing, every request unsampled (``always_off``),
  exporter on: what a request not chosen by head sampling costs;
- ``default``:   what users get — metrics + our tracing of every request, exported
  over OTLP to a local sink when failed, slower than the SLO threshold, or among
  10% of the rest (``SLOLAB_TRACE_KEEP_RATIO``);
- ``all``:       as ``default`` with every trace exported (ratio 1);
- ``anchor``:    metrics + the official OpenTelemetry Flask/FastAPI
  instrumentations as shipped, every span exported (``SLOLAB_TRACING=official``).

Saturation runs alternate the order of the configurations from round to round so
that a neighbour's load on this shared machine does not always hit the same one;
every run also records the CPU the services, wrk and everything else used.
"""

from __future__ import annotations

import os
import resource
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from bench import cpu
from bench.report import cpu_precise
from bench.sink import DiscardingSink
from slolab import wrk
from slolab.lab.procs import ServiceProcess, start_service
from slolab.procmetrics import tree_pids

__all__ = ["CONFIGS", "MODES", "WORKLOADS", "Options", "Run", "Workload", "run_all"]

MODES = ("off", "metrics", "unsampled", "default", "all", "anchor")
EXPORTING = ("unsampled", "default", "all", "anchor")
CONFIGS: dict[str, dict[str, str]] = {
    "off": {"SLOLAB_INSTRUMENTATION": "off"},
    "metrics": {"OTEL_SDK_DISABLED": "true"},
    "unsampled": {"OTEL_TRACES_SAMPLER": "always_off"},
    "default": {},
    "all": {"SLOLAB_TRACE_KEEP_RATIO": "1"},
    "anchor": {"SLOLAB_TRACING": "official"},
}
PACED_MODES = ("off", "default", "anchor")  # constant-rate runs: the ends and the default
SEED_TASKS = 100


@dataclass(frozen=True)
class Workload:
    name: str
    service: str  # the service wrk talks to
    path: str
    lua: str | None  # slolab/lua/NAME.lua, None for a plain GET
    target_rate: float | None  # constant-rate run at this offered load (issue 2's targets)


WORKLOADS = (
    Workload("list", "tasks", "/api/tasks?limit=20", None, 1500),
    Workload("predict", "predictor", "/predict", "predict", 2000),
    Workload("create", "tasks", "/api/tasks", "create_task", None),
)


@dataclass(frozen=True)
class Options:
    seconds: float = 6.0
    warmup_s: float = 2.0
    rounds: int = 3  # the median of 3 survives one round spoiled by a neighbour
    threads: int = 2
    connections: int = 32
    paced_seconds: float = 6.0
    degraded_seconds: float = 4.0
    # CPU per request, one request at a time (``Bench.cpu``): rounds of this length until
    # every configuration's 95% interval is within CPU_PRECISION points, or cpu_rounds.
    cpu_seconds: float = 2.0
    cpu_rounds: int = 40
    workloads: tuple[str, ...] = tuple(w.name for w in WORKLOADS)
    service_env: tuple[tuple[str, str], ...] = ()  # e.g. (("PREDICTOR_WORKERS", "2"),)
    modes: tuple[str, ...] = MODES


@dataclass
class Run:
    workload: str
    mode: str
    kind: str  # saturation | paced | cpu | predictor-down | predictor-slow
    round: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    errors: int
    server_cpu_us_per_req: float  # both services' process trees, per answered request
    server_cores: float  # CPU the services used, in cores
    wrk_cores: float
    other_cores: float  # everything else on the machine (other users' work)
    offered_rps: float | None = None
    late_sends: int | None = None
    sent: int | None = None
    max_late_ms: float | None = None
    raw: str = field(default="", repr=False)


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    busy = sum(fields[:8]) - idle  # guest time is already in user
    return busy / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> tuple[float, float]:
    """(this process, its waited-for children = wrk) CPU seconds."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


@dataclass
class Pair:
    mode: str
    predictor: ServiceProcess
    tasks: ServiceProcess

    def service(self, name: str) -> ServiceProcess:
        return self.tasks if name == "tasks" else self.predictor

    def cpu_seconds(self) -> float:
        return self.tasks.cpu_seconds() + self.predictor.cpu_seconds()


class Bench:
    def __init__(self, opts: Options, workdir: Path, log: Callable[[str], None]) -> None:
        self.opts = opts
        self.workdir = workdir
        self.log = log
        self.token = secrets.token_urlsafe(16)
        self.runs: list[Run] = []
        self.pairs: dict[str, Pair] = {}

    # -- services ---------------------------------------------------------------

    def start_pairs(self, stack: ExitStack, sink: DiscardingSink) -> None:
        for mode in self.opts.modes:
            env = {**dict(self.opts.service_env), **CONFIGS[mode]}
            if mode in EXPORTING:
                env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
            state = self.workdir / mode
            predictor = start_service(
                "predictor",
                state / "predictor",
                **{
                    **env,
                    "SLOLAB_ADMIN_TOKEN": self.token,
                    "PREDICTOR_RETRAIN_INTERVAL_S": "0",  # no retraining mid-run
                },
            )
            stack.callback(predictor.stop)
            tasks_env = {**env, "PREDICTOR_URL": predictor.url}
            # wrk's keep-alive connections spread evenly over tasks' workers: with the
            # default (a worker serves up to the whole backlog) one worker may take them
            # all, and which one and how many changes from run to run (docs/benchmarks.md,
            # "Why the tasks figures swing"). --set TASKS_MAX_CONNECTIONS=... overrides.
            workers = int(tasks_env.get("TASKS_WORKERS", "2"))
            per_worker = max(16, -(-self.opts.connections // workers))
            tasks_env.setdefault("TASKS_MAX_CONNECTIONS", str(per_worker))
            tasks = start_service("tasks", state / "tasks", **tasks_env)
            stack.callback(tasks.stop)
            self.pairs[mode] = Pair(mode, predictor, tasks)
            self.log(f"{mode}: tasks {tasks.url}, predictor {predictor.url}")

    def seed(self) -> None:
        """~100 tasks in every tasks store, so that the list has pages to serve."""
        for pair in self.pairs.values():
            with httpx.Client(base_url=pair.tasks.url, timeout=10) as client:
                for i in range(SEED_TASKS):
                    resp = client.post("/api/tasks", json={"title": f"seeded task {i}"})
                    resp.raise_for_status()

    # -- one wrk run ------------------------------------------------------------

    def measure(
        self,
        work: Workload,
        pair: Pair,
        kind: str,
        rnd: int,
        seconds: float,
        rate: float | None = None,
    ) -> Run:
        url = pair.service(work.service).url + work.path
        lua = wrk.script(work.lua, rate, self.workdir)
        argv = wrk.command(
            url,
            seconds=seconds,
            threads=self.opts.threads,
            connections=self.opts.connections,
            lua=lua,
            rate=rate,
        )
        srv0, busy0, (me0, kids0) = pair.cpu_seconds(), _machine_busy_seconds(), _own_seconds()
        t0 = time.monotonic()
        result, raw = wrk.run(argv, limit_s=seconds + 30)
        wall = time.monotonic() - t0
        srv1, busy1, (me1, kids1) = pair.cpu_seconds(), _machine_busy_seconds(), _own_seconds()
        server, wrk_cpu, me = srv1 - srv0, kids1 - kids0, me1 - me0
        other = max(0.0, (busy1 - busy0) - server - wrk_cpu - me)
        run = Run(
            workload=work.name,
            mode=pair.mode,
            kind=kind,
            round=rnd,
            rps=result.rps,
            p50_ms=result.p50,
            p90_ms=result.percentiles_ms.get(90.0, float("nan")),
            p99_ms=result.p99,
            requests=result.requests,
            errors=result.errors,
            server_cpu_us_per_req=1e6 * server / max(1, result.requests),
            server_cores=server / wall,
            wrk_cores=wrk_cpu / wall,
            other_cores=other / wall,
            offered_rps=rate,
            late_sends=result.paced_late,
            sent=result.paced_sent,
            max_late_ms=result.max_late_ms,
            raw=raw,
        )
        self.log(
            f"{kind:<15} {work.name:<8} {pair.mode:<7} r{rnd} "
            f"{run.rps:8.0f} rps  p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:7.2f} ms  "
            f"cpu {run.server_cpu_us_per_req:6.0f} us/req  others {run.other_cores:.2f} cores"
            + (f"  late {run.late_sends}/{run.sent}" if rate else "")
            + (f"  errors {run.errors}" if run.errors else "")
        )
        return run

    def warm(self, work: Workload, pair: Pair) -> None:
        if self.opts.warmup_s <= 0:
            return
        url = pair.service(work.service).url + work.path
        lua = wrk.script(work.lua, None, self.workdir)
        argv = wrk.command(
            url, seconds=self.opts.warmup_s, threads=self.opts.threads,
            connections=self.opts.connections, lua=lua,
        )  # fmt: skip
        wrk.run(argv, limit_s=self.opts.warmup_s + 30)

    # -- the plan ---------------------------------------------------------------

    def saturation(self, work: Workload) -> None:
        for rnd in range(self.opts.rounds):
            modes = self.opts.modes
            order = modes if rnd % 2 == 0 else tuple(reversed(modes))
            for mode in order:
                pair = self.pairs[mode]
                if rnd == 0:
                    self.warm(work, pair)
                self.runs.append(self.measure(work, pair, "saturation", rnd, self.opts.seconds))

    def paced(self, work: Workload) -> None:
        if work.target_rate is None or self.opts.paced_seconds <= 0:
            return
        for mode in [m for m in PACED_MODES if m in self.opts.modes]:
            self.runs.append(
                self.measure(
                    work, self.pairs[mode], "paced", 0, self.opts.paced_seconds, work.target_rate
                )
            )

    def cpu(self, work: Workload) -> None:
        """CPU per request, one request at a time, configurations interleaved (bench/cpu.py).

        A configuration leaves the rounds once its 95% interval is within
        ``CPU_PRECISION`` points (``off``, the reference, stays while any other is
        measured); at most ``cpu_rounds`` rounds.
        """
        modes = self.opts.modes
        if self.opts.cpu_rounds <= 0 or "off" not in modes or len(modes) < 2:
            return
        urls = {m: self.pairs[m].service(work.service).url for m in modes}
        meters = {m: self.pairs[m].cpu_seconds for m in modes}
        with _pinned(self.pairs.values()), cpu.clients(urls, work.path, work.lua) as conns:
            cpu.interleave(conns, meters, 0.5)  # warm-up: connections, caches
            measuring = ["off", *(m for m in modes if m != "off")]
            for rnd in range(self.opts.cpu_rounds):
                chosen = {m: conns[m] for m in measuring}
                served = cpu.interleave(chosen, meters, self.opts.cpu_seconds)
                for mode, s in served.items():
                    run = Run(
                        workload=work.name, mode=mode, kind="cpu", round=rnd,
                        rps=s.requests / s.seconds, p50_ms=s.percentile(50),
                        p90_ms=s.percentile(90), p99_ms=s.percentile(99),
                        requests=s.requests, errors=s.errors,
                        server_cpu_us_per_req=1e6 * s.cpu_s / max(1, s.requests),
                        server_cores=s.cpu_s / s.seconds, wrk_cores=0.0, other_cores=0.0,
                    )  # fmt: skip
                    self.runs.append(run)
                    self.log(
                        f"cpu             {work.name:<8} {mode:<7} r{rnd} "
                        f"{run.requests:6d} requests  cpu {run.server_cpu_us_per_req:6.0f} us/req"
                        + (f"  errors {run.errors}" if run.errors else "")
                    )
                done = as_dicts(self.runs)
                measuring = ["off"] + [
                    m for m in measuring[1:] if not cpu_precise(done, work.name, m)
                ]
                if len(measuring) == 1:
                    break

    def degraded(self, work: Workload) -> None:
        """Create with the predictor slow (beyond the client timeout), then stopped."""
        if self.opts.degraded_seconds <= 0 or "default" not in self.pairs:
            return
        pair = self.pairs["default"]
        auth = {"Authorization": f"Bearer {self.token}"}
        # Slower than PREDICTOR_TIMEOUT (0.3 s): every estimate times out.
        httpx.put(
            f"{pair.predictor.url}/admin/faults", json={"latency_ms": 1000}, headers=auth, timeout=5
        ).raise_for_status()
        self.runs.append(self.measure(work, pair, "predictor-slow", 0, self.opts.degraded_seconds))
        httpx.delete(f"{pair.predictor.url}/admin/faults", headers=auth, timeout=5)
        pair.predictor.stop()  # connection refused: the fast degraded path
        self.runs.append(self.measure(work, pair, "predictor-down", 0, self.opts.degraded_seconds))


def run_all(opts: Options, log: Callable[[str], None]) -> list[Run]:
    """Start everything, run the plan, stop everything; return every measured run."""
    with ExitStack() as stack, _workdir() as workdir:
        sink = stack.enter_context(DiscardingSink())
        bench = Bench(opts, workdir, log)
        bench.start_pairs(stack, sink)
        bench.seed()
        chosen = [w for w in WORKLOADS if w.name in opts.workloads]
        # Lists first: creates would grow the stores the list reads.
        for work in chosen:
            bench.saturation(work)
            bench.paced(work)
            bench.cpu(work)
        create = next((w for w in chosen if w.name == "create"), None)
        if create is not None:
            bench.degraded(create)
        log(f"sink received {sink.batches} span batches, {sink.bytes / 1e6:.1f} MB")
        return bench.runs


def _pin(pids: Iterable[int], cpus: set[int]) -> None:
    """Every thread of these processes on ``cpus`` (threads started later inherit it)."""
    for pid in pids:
        with suppress(OSError):  # exited meanwhile
            for tid in os.listdir(f"/proc/{pid}/task"):
                with suppress(OSError):
                    os.sched_setaffinity(int(tid), cpus)


@contextmanager
def _pinned(pairs: Iterable[Pair]) -> Iterator[None]:
    """The services' process trees on the last CPU, this process (the client)
    on the others, for as long as the block runs; nothing pinned on a single CPU."""
    cpus = set(os.sched_getaffinity(0))
    if len(cpus) < 2:
        yield
        return
    services = [p for pair in pairs for svc in (pair.tasks, pair.predictor)
                for p in tree_pids(svc.pid)]  # fmt: skip
    _pin([os.getpid()], cpus - {max(cpus)})
    _pin(services, {max(cpus)})
    try:
        yield
    finally:
        _pin(services, cpus)
        _pin([os.getpid()], cpus)


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="slolab-bench-") as tmp:
        yield Path(tmp)


def as_dicts(runs: list[Run]) -> list[dict]:
    """The runs as JSON-ready dicts, without wrk's raw text."""
    return [{k: v for k, v in asdict(r).items() if k != "raw"} for r in runs]
