"""Run wrk and read its report (``--latency`` percentiles, errors, pacing)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LUA", "WrkError", "WrkResult", "command", "parse", "run", "script"]

LUA = Path(__file__).resolve().parent / "lua"

_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_DURATION = re.compile(r"^([\d.]+)(us|ms|s|m|h)$")
_PERCENTILE = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s*$", re.M)
_TOTAL = re.compile(r"^\s*(\d+) requests in (\S+), ", re.M)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_NON_2XX = re.compile(r"^\s*Non-2xx or 3xx responses: (\d+)", re.M)
_SOCKET = re.compile(
    r"^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.M
)
_PACE = re.compile(r"^Pace: sent (\d+), late (\d+), max late ([\d.]+)ms", re.M)


class WrkError(RuntimeError):
    """wrk failed or printed something this parser does not understand."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    rps: float
    percentiles_ms: dict[float, float]  # e.g. {50.0: 2.1, 99.0: 9.8}
    non_2xx: int = 0
    socket_errors: int = 0
    paced_sent: int | None = None  # constant-rate runs only (slolab/lua/pace.lua)
    paced_late: int | None = None
    max_late_ms: float | None = None

    @property
    def p50(self) -> float:
        return self.percentiles_ms[50.0]

    @property
    def p99(self) -> float:
        return self.percentiles_ms[99.0]

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def duration_ms(text: str) -> float:
    """wrk's human duration (``850.00us``, ``2.43ms``, ``1.02s``, ``1.00m``) in ms."""
    match = _DURATION.match(text.strip())
    if not match:
        raise WrkError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse(text: str) -> WrkResult:
    """Read wrk's standard report (run with ``--latency``)."""
    total, rps = _TOTAL.search(text), _RPS.search(text)
    if not total or not rps:
        raise WrkError(f"no request count or rate in wrk's output:\n{text}")
    block = text.split("Latency Distribution", 1)
    if len(block) != 2:
        raise WrkError(f"no latency distribution (was --latency given?):\n{text}")
    # The distribution block ends at the "N requests in" line.
    dist = block[1].split(total.group(0), 1)[0]
    percentiles = {float(p): duration_ms(v) for p, v in _PERCENTILE.findall(dist)}
    if 50.0 not in percentiles or 99.0 not in percentiles:
        raise WrkError(f"p50 or p99 missing from wrk's output:\n{text}")
    socket = _SOCKET.search(text)
    non_2xx = _NON_2XX.search(text)
    pace = _PACE.search(text)
    return WrkResult(
        requests=int(total.group(1)),
        seconds=duration_ms(total.group(2)) / 1e3,
        rps=float(rps.group(1)),
        percentiles_ms=percentiles,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in socket.groups()) if socket else 0,
        paced_sent=int(pace.group(1)) if pace else None,
        paced_late=int(pace.group(2)) if pace else None,
        max_late_ms=float(pace.group(3)) if pace else None,
    )


def script(workload: str | None, rate: float | None, folder: Path) -> Path | None:
    """The Lua script for a run: the workload's (slolab/lua/NAME.lua) plus pacing if ``rate``.

    wrk takes one script, so pacing is appended to the workload's text.
    """
    parts = []
    if workload:
        parts.append((LUA / f"{workload}.lua").read_text())
    if rate:
        parts.append((LUA / "pace.lua").read_text())
    if not parts:
        return None
    path = folder / f"{workload or 'get'}{'-paced' if rate else ''}.lua"
    path.write_text("\n".join(parts))
    return path


def command(
    url: str,
    *,
    seconds: float,
    threads: int = 2,
    connections: int = 32,
    lua: Path | None = None,
    rate: float | None = None,
    timeout_s: float = 2.0,
) -> list[str]:
    """argv of one wrk run (``rate`` needs ``lua`` built with pacing)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise WrkError("wrk is not on PATH (Debian: apt-get install wrk)")
    argv = [
        wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        f"--timeout={max(1, round(timeout_s))}s", "--latency",
    ]  # fmt: skip
    if lua is not None:
        argv += ["-s", str(lua)]
    argv.append(url)
    if rate:
        argv += ["--", str(rate), str(threads)]
    return argv


def run(argv: list[str], limit_s: float) -> tuple[WrkResult, str]:
    """Run wrk (killed after ``limit_s``) and parse its report; returns (result, raw text)."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=limit_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish within {limit_s:.0f}s: {argv}") from exc
    if proc.returncode != 0:
        raise WrkError(f"wrk exited {proc.returncode}: {proc.stderr or proc.stdout}")
    return parse(proc.stdout), proc.stdout
