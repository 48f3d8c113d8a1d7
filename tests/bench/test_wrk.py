"""The wrk report parser and command builder (no load is generated here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slolab import wrk

SATURATED = """\
Running 10s test @ http://127.0.0.1:40123/api/tasks?limit=20
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.91ms    2.06ms  33.40ms   80.26%
    Req/Sec     2.71k   251.54     3.27k    72.50%
  Latency Distribution
     50%  850.00us
     75%    6.69ms
     90%    8.04ms
     99%    1.02s
  54150 requests in 10.01s, 8.47MB read
  Socket errors: connect 0, read 2, write 1, timeout 3
  Non-2xx or 3xx responses: 12
Requests/sec:   5410.19
Transfer/sec:    866.42KB
"""

PACED_TAIL = "Pace: sent 15012, late 7, max late 3.4ms\n"


def test_parses_rate_count_percentiles_and_units() -> None:
    r = wrk.parse(SATURATED)
    assert r.requests == 54150
    assert r.seconds == pytest.approx(10.01)
    assert r.rps == pytest.approx(5410.19)
    assert r.percentiles_ms == {50.0: 0.85, 75.0: 6.69, 90.0: 8.04, 99.0: 1020.0}
    assert (r.p50, r.p99) == (0.85, 1020.0)
    # Thread Stats' "80.26%" and "72.50%" are not percentiles of the distribution.
    assert 80.26 not in r.percentiles_ms


def test_counts_non_2xx_and_socket_errors() -> None:
    r = wrk.parse(SATURATED)
    assert (r.non_2xx, r.socket_errors, r.errors) == (12, 6, 18)
    clean = wrk.parse(
        SATURATED.replace("  Socket errors: connect 0, read 2, write 1, timeout 3\n", "").replace(
            "  Non-2xx or 3xx responses: 12\n", ""
        )
    )
    assert clean.errors == 0


def test_reads_the_pacing_line_only_when_present() -> None:
    assert wrk.parse(SATURATED).paced_sent is None
    r = wrk.parse(SATURATED + PACED_TAIL)
    assert (r.paced_sent, r.paced_late, r.max_late_ms) == (15012, 7, 3.4)


@pytest.mark.parametrize(
    ("text", "ms"),
    [("850.00us", 0.85), ("2.43ms", 2.43), ("1.02s", 1020.0), ("1.50m", 90_000.0)],
)
def test_durations(text: str, ms: float) -> None:
    assert wrk.duration_ms(text) == pytest.approx(ms)


@pytest.mark.parametrize(
    "broken",
    [
        "",
        SATURATED.replace("Requests/sec:   5410.19\n", ""),
        SATURATED.replace("  Latency Distribution\n", ""),  # run without --latency
        SATURATED.replace("     99%    1.02s\n", ""),
        SATURATED.replace("850.00us", "850.00xs"),
    ],
)
def test_refuses_output_it_does_not_understand(broken: str) -> None:
    with pytest.raises(wrk.WrkError):
        wrk.parse(broken)


def test_command_and_scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wrk.shutil, "which", lambda name: "/usr/bin/wrk")
    assert wrk.script(None, None, tmp_path) is None  # a plain GET needs no script
    plain = wrk.script("predict", None, tmp_path)
    paced = wrk.script("predict", 2000, tmp_path)
    assert plain is not None and paced is not None
    assert "function delay" not in plain.read_text()
    assert "function delay" in paced.read_text() and "function request" in paced.read_text()

    argv = wrk.command("http://h/p", seconds=10, lua=paced, rate=2000, threads=2)
    assert argv[:2] == ["/usr/bin/wrk", "-t2"]
    assert "--latency" in argv and "-d10s" in argv
    # Script arguments come after the URL: the rate and the thread count for pace.lua.
    assert argv[argv.index("http://h/p") :] == ["http://h/p", "--", "2000", "2"]
    assert "--" not in wrk.command("http://h/p", seconds=3)


def test_every_workload_script_exists() -> None:
    from bench.run import WORKLOADS

    for work in WORKLOADS:
        if work.lua:
            assert (wrk.LUA / f"{work.lua}.lua").is_file()
