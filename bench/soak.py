"""Soak: the steady Locust scenario against both native services, watching memory and errors.

    .venv/bin/python -m bench.soak                  # 10 minutes; writes docs/reliability.md
    .venv/bin/python -m bench.soak --duration 60 --warmup 20 --no-write   # a quick look

Both services are started as an operator would (``python -m slolab serve``) on free
loopback ports with a temporary state folder; tasks asks the predictor for every
estimate. Every ``--interval`` seconds the resident memory of each service is sampled:
for tasks the sum over the gunicorn master and its workers, for the predictor the
uvicorn process (and any children). Growth is the median of the last minute against
the median of the first minute after warm-up. Exit status 1 when a request failed or a
service grew by 10% or more.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from slolab.contract import HTTP_METRICS
from slolab.lab.procs import ServiceProcess, run_service, spawn

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "reliability.md"
BEGIN, END = "<!-- soak:begin -->", "<!-- soak:end -->"
MAX_GROWTH = 0.10


def server_errors(svc: ServiceProcess) -> int:
    """5xx answers the service itself counted (its own view, beside Locust's)."""
    text = httpx.get(f"{svc.url}/metrics", timeout=5).text
    name = HTTP_METRICS[svc.name][0].name
    total = 0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels.get("status", "").startswith("5"):
                total += int(s.value)
    return total


@dataclass
class Result:
    duration_s: float
    warmup_s: float
    interval_s: float
    users: int
    requests: int = 0
    failures: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    server_errors: dict[str, int] = field(default_factory=dict)
    rss_mb: dict[str, dict[str, float]] = field(default_factory=dict)
    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    machine: str = ""

    @property
    def ok(self) -> bool:
        grew = any(m["growth"] >= MAX_GROWTH for m in self.rss_mb.values())
        return self.failures == 0 and not any(self.server_errors.values()) and not grew


def _service_env(**extra: str) -> dict[str, str]:
    # No collector here: no exporter retrying.
    return {"LOG_LEVEL": "WARNING", "OTEL_TRACES_EXPORTER": "none", **extra}


def _locust_stats(prefix: Path) -> dict[str, float]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    agg = next(r for r in rows if r["Name"] == "Aggregated")
    return {
        "requests": int(agg["Request Count"]),
        "failures": int(agg["Failure Count"]),
        "rps": float(agg["Requests/s"]),
        "p50_ms": float(agg["50%"]),
        "p99_ms": float(agg["99%"]),
    }


def _growth(samples: list[tuple[float, int]], warmup: float) -> dict[str, float]:
    after = [(t, v) for t, v in samples if t >= warmup]
    if len(after) < 2:
        raise SystemExit("too few memory samples after warm-up: run longer")
    end_t = after[-1][0]
    window = min(60.0, (end_t - warmup) / 3)
    first = [v for t, v in after if t < warmup + window] or [after[0][1]]
    last = [v for t, v in after if t > end_t - window] or [after[-1][1]]
    base, final = median(first), median(last)
    return {
        "start": round(samples[0][1] / 2**20, 1),
        "after_warmup": round(base / 2**20, 1),
        "end": round(final / 2**20, 1),
        "peak": round(max(v for _, v in samples) / 2**20, 1),
        "growth": round((final - base) / base, 4),
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.1f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def run(duration: float, warmup: float, interval: float, users: int, log_dir: Path) -> Result:
    result = Result(duration, warmup, interval, users, machine=machine())
    with ExitStack() as stack:
        predictor = stack.enter_context(
            run_service("predictor", log_dir / "predictor", log=log_dir / "p.log", cwd=REPO,
                        **_service_env())
        )  # fmt: skip
        tasks = stack.enter_context(
            run_service("tasks", log_dir / "tasks", cwd=REPO,
                        **_service_env(PREDICTOR_URL=predictor.url,
                                       TASKS_DB_PATH=str(log_dir / "tasks.sqlite3")))
        )  # fmt: skip
        servers = (tasks, predictor)

        locust_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        locust_env.update(SCENARIO="steady", TASKS_URL=tasks.url, PREDICTOR_URL=predictor.url,
                          LOAD_USERS=str(users))  # fmt: skip
        locust_env.pop("SLOLAB_ADMIN_TOKEN", None)  # steady needs no faults
        prefix = log_dir / "locust"
        argv = [sys.executable, "-m", "locust", "-f", str(REPO / "loadgen" / "locustfile.py"),
                "--headless", "--run-time", f"{int(duration)}s", "--host", tasks.url,
                "--csv", str(prefix), "--only-summary", "--stop-timeout", "5"]  # fmt: skip
        locust = spawn("locust", argv, log_dir / "locust.log", env=locust_env, cwd=REPO)
        stack.callback(locust.stop, 30)
        t0 = time.monotonic()
        result.samples = {s.name: [] for s in servers}
        while locust.exited() is None:
            now = time.monotonic() - t0
            for s in servers:
                if s.proc is None or s.proc.exited() is not None:
                    raise SystemExit(f"{s.name} died during the soak; see {s.log}")
                result.samples[s.name].append((round(now, 1), s.rss_bytes()))
            if now > duration + 60:
                raise SystemExit("locust did not stop on time")
            time.sleep(interval)
        for key, value in _locust_stats(prefix).items():
            setattr(result, key, value)
        result.server_errors = {s.name: server_errors(s) for s in servers}
        result.rss_mb = {name: _growth(v, warmup) for name, v in result.samples.items()}
    return result


def render(r: Result) -> str:
    verdict = "passed" if r.ok else "FAILED"
    rows = "\n".join(
        f"| {name} | {m['start']} | {m['after_warmup']} | {m['end']} | {m['peak']} | "
        f"{m['growth'] * 100:+.1f}% |"
        for name, m in r.rss_mb.items()
    )
    errors = ", ".join(f"{n} {c}" for n, c in r.server_errors.items())
    return f"""{BEGIN}
Last run ({time.strftime("%Y-%m-%d %H:%M %Z")}): **{verdict}** — {r.duration_s / 60:g} minutes of
the steady scenario ({r.users} Locust users), memory sampled every {r.interval_s:g} s,
warm-up {r.warmup_s:g} s. Machine: {r.machine}.

| figure | value |
|---|---|
| requests (Locust) | {r.requests:,} ({r.rps:.1f}/s) |
| failed requests (Locust) | {r.failures} |
| 5xx counted by the services | {errors} |
| latency p50 / p99 (all requests) | {r.p50_ms:g} ms / {r.p99_ms:g} ms |

| service RSS (MiB) | at start | after warm-up | at end | peak | growth after warm-up |
|---|---|---|---|---|---|
{rows}

Growth compares the median of the last minute with the median of the first minute
after warm-up; the target is under {MAX_GROWTH:.0%}.
{END}"""


def write_doc(section: str, doc: Path = DOC) -> None:
    """Replace the soak section of the doc (between its markers), or append one."""
    text = doc.read_text() if doc.exists() else "# Reliability\n"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else f"{text}\n{section}\n"
    doc.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=600, help="seconds of load (default 600)")
    ap.add_argument("--warmup", type=float, default=60, help="seconds before memory counts")
    ap.add_argument("--interval", type=float, default=5, help="seconds between memory samples")
    ap.add_argument("--users", type=int, default=10, help="steady Locust users (LOAD_USERS)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/reliability.md")
    ap.add_argument("--json", type=Path, help="also write the full result (with samples) here")
    args = ap.parse_args(argv)
    if args.warmup >= args.duration:
        ap.error("--warmup must be shorter than --duration")
    keep = os.environ.get("SOAK_KEEP_DIR")  # keep logs for a post-mortem
    with tempfile.TemporaryDirectory(prefix="slolab-soak-") as tmp:
        work = Path(keep) if keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        result = run(args.duration, args.warmup, args.interval, args.users, work)
    section = render(result)
    print(section)
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2))
    if not args.no_write:
        write_doc(section)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
