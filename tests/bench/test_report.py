"""Tables and target checks of docs/benchmarks.md, from made-up runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import report


def run(workload: str, mode: str, rps: float, p50: float, p99: float, **kw: Any) -> dict:
    base = {
        "workload": workload, "mode": mode, "kind": "saturation", "round": 0, "rps": rps,
        "p50_ms": p50, "p90_ms": p99 / 2, "p99_ms": p99, "requests": int(rps * 10), "errors": 0,
        "server_cpu_us_per_req": 400.0, "server_cores": 1.0, "wrk_cores": 0.5,
        "other_cores": 0.1, "offered_rps": None, "late_sends": None, "sent": None,
        "max_late_ms": None,
    }  # fmt: skip
    return {**base, **kw}


RUNS = [
    run("list", "off", 2000, 4.0, 9.0),
    run("list", "off", 2200, 4.2, 9.5, round=1),
    run("list", "metrics", 1960, 4.3, 10.0, server_cpu_us_per_req=410.0),
    run("list", "metrics", 2000, 4.4, 10.5, round=1, server_cpu_us_per_req=418.0),
    run("list", "default", 1700, 5.0, 12.0, server_cpu_us_per_req=440.0),
    run("list", "default", 1800, 5.2, 12.0, round=1, server_cpu_us_per_req=480.0),
    run("list", "anchor", 1500, 5.0, 12.0, server_cpu_us_per_req=700.0),
    run("predict", "off", 3000, 2.0, 6.0),
    run("predict", "default", 4100, 3.0, 8.0),
    run("predict", "default", 2000, 1.9, 5.0, kind="paced", offered_rps=2000, sent=20000,
        late_sends=10),
    run("predict", "off", 1500, 15, 90, kind="paced", offered_rps=2000, sent=20000, late_sends=900),
    run("create", "default", 300, 20, 60),
    run("create", "default", 25, 1200, 1300, kind="predictor-slow", errors=0),
]  # fmt: skip


def cpu_rounds(workload: str, per_mode: dict[str, list[float]]) -> list[dict]:
    """One-at-a-time rounds: µs per request of each configuration, round by round."""
    return [
        run(workload, mode, 1000, 1.0, 2.0, kind="cpu", round=i, server_cpu_us_per_req=us)
        for mode, values in per_mode.items()
        for i, us in enumerate(values)
    ]


# list: metrics +2% in every round, default +10% but +40% in one round (a lump).
CPU = cpu_rounds(
    "list",
    {
        "off": [400, 500, 400, 500, 400, 500],
        "metrics": [408, 510, 408, 510, 408, 510],
        "default": [440, 550, 440, 700, 440, 550],
        "anchor": [700, 875, 700, 875, 700, 875],
    },
)


def test_summary_takes_the_median_over_rounds() -> None:
    s = report.summarize(RUNS, "list", "off")
    assert s is not None
    assert (s["rps"], s["rps_min"], s["rps_max"], s["n"]) == (2100, 2000, 2200, 2)
    assert s["p50_ms"] == 4.1
    assert report.summarize(RUNS, "list", "off", "paced") is None


def test_cpu_extra_pools_the_rounds_and_its_interval_follows_their_spread() -> None:
    c = report.cpu_extra(CPU, "list", "default")
    assert c is not None
    # 3,120 µs of default over 2,700 µs of off in the same 6 rounds (of equal requests):
    # the round with a lump (a collection, an export batch) counts in whole.
    assert round(c["extra"], 4) == 15.5556 and c["rounds"] == 6
    assert c["off_us"] == 450 and c["us"] == 520
    # rounds' ratios 110, 110, 110, 140, 110, 110: sd 12.25, t(0.975, 5) = 2.571
    assert round(c["high"] - c["extra"], 2) == round(2.5706 * 12.2474 / 6**0.5, 2) == 12.85
    assert round(c["extra"] - c["low"], 2) == 12.85
    assert report.cpu_extra(CPU, "predict", "default") is None
    assert report.cpu_extra(RUNS, "list", "default") is None  # saturation runs are not it
    # Precise enough: an interval within ±3 points after at least 6 rounds.
    assert report.cpu_precise(CPU, "list", "metrics") and report.cpu_precise(CPU, "list", "anchor")
    assert not report.cpu_precise(CPU, "list", "default")
    assert not report.cpu_precise(CPU[:5] + CPU[6:11], "list", "metrics")  # 5 rounds


def test_a_configuration_measured_in_fewer_rounds_is_compared_with_off_in_those() -> None:
    runs = cpu_rounds("list", {"off": [400, 500, 600, 700], "metrics": [440, 550]})
    c = report.cpu_extra(runs, "list", "metrics")
    assert c is not None and c["rounds"] == 2 and round(c["extra"], 6) == 10.0


def test_targets_are_issue_10s_cpu_ratios_and_floors_of_the_default() -> None:
    got = {t.name: t for t in report.targets(RUNS + CPU)}
    cpu = got["list: extra CPU per request vs off"]
    # From the one-at-a-time rounds: metrics +2% (≤ 5%), default +15.6% (≤ 15%); the
    # anchor is shown, with no target of its own.
    assert cpu.met == {"metrics": True, "default": False}
    assert cpu.cells["default"] == "+15.6% CPU/req (≤ +15%)"
    assert cpu.cells["metrics"] == "+2.0% CPU/req (≤ +5%)"
    assert cpu.cells["anchor"] == "+75.0% CPU/req"
    # Floors and constant-rate p99 apply to the default configuration only.
    assert got["list ≥ 2,500 rps (saturation)"].met == {"default": False}
    assert got["predict ≥ 4,000 rps (saturation)"].met == {"default": True}
    assert got["list ≥ 2,500 rps (saturation)"].cells["off"] == "2,100 rps"
    paced = got["predict: p99 ≤ 20 ms at 2,000 rps"]
    assert paced.met == {"default": True}
    # off's p99 looks fine at first sight but the schedule slipped: said so.
    assert "rate not sustained" in paced.cells["off"]
    assert "create: extra CPU per request vs off" not in got  # no create/off run


def test_render_has_every_section_and_row() -> None:
    results = {
        "machine": {
            "date": "2026-11-23 10:00 UTC", "nproc": 2, "cpu": "AMD EPYC", "kernel": "6.1",
            "python": "3.11.7", "wrk": "wrk 4.1.0", "loadavg": (0.5, 0.4, 0.3),
            "libraries": {"flask": "3.1"},
        },
        "command": "make bench",
        "options": {"threads": 2, "connections": 32, "seconds": 10, "warmup_s": 2,
                    "rounds": 2, "paced_seconds": 10},
    "runs": RUNS + CPU,
    }  # fmt: skip
    text = report.render(results)
    assert text.startswith(report.BEGIN) and text.endswith(report.END)
    assert "AMD EPYC" in text and "`make bench`" in text and "flask 3.1" in text
    assert "Set for both services" not in text
    results["options"]["service_env"] = [["PREDICTOR_WORKERS", "2"]]
    assert "every configuration: `PREDICTOR_WORKERS=2`." in report.render(results)
    saturation, cpu = text.split("### CPU per request")[:2]
    table = [line for line in saturation.splitlines() if line.startswith("| list |")]
    assert len(table) == 4
    assert table[0].split(" | ")[2] == "2,100 (2,000–2,200)"  # noqa: RUF001
    assert table[2].split(" | ")[5] == "-16.7%"  # default: 1,750 rps against 2,100
    rows = [line for line in cpu.splitlines() if line.startswith("| list |")]
    assert rows[0] == f"| list | {report.MODE_LABELS['off']} | 450 | — | — | 6 |"
    assert rows[2] == (
        f"| list | {report.MODE_LABELS['default']} | 520 (450) | +15.6% (≤ +15%) "
        "| +2.7% … +28.4% | 6 |"
    )
    assert f"| predict | {report.MODE_LABELS['default']} | 2,000 | 2,000 |" in text
    assert "| predictor slower than PREDICTOR_TIMEOUT (1 s latency fault) | 25 |" in text
    assert "**missed**" in text and " met" in text
    # Every table row has as many cells as its header.
    for block in text.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        if rows:
            assert len({row.count(" | ") for row in rows if not row.startswith("|---")}) == 1


def test_instruction_counts_are_judged_against_the_cpu_targets() -> None:
    def count(workload: str, mode: str, millions: float) -> dict[str, Any]:
        return {"workload": workload, "mode": mode, "calls": 100, "instructions": millions * 1e8}

    counts = [
        count("list", "off", 2.0), count("list", "metrics", 2.04), count("list", "default", 2.4),
        count("predict", "off", 1.0), count("predict", "default", 1.1),
    ]  # fmt: skip
    text = "\n".join(report._instructions_section(counts))
    (list_row,) = [line for line in text.splitlines() if line.startswith("| list |")]
    cells = list_row.split(" | ")
    assert cells[1] == "2.000 M"
    assert cells[2] == "2.040 M (+2.0%) ≤ 5% met"
    assert cells[3] == "2.400 M (+20.0%) ≤ 15% **missed** |"
    assert "| predict | 1.000 M |  | 1.100 M (+10.0%) ≤ 15% met |" in text
    assert report._instructions_section([]) == []


def test_update_doc_replaces_only_the_generated_block(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    report.update_doc(doc, f"{report.BEGIN}\nfirst\n{report.END}")
    assert "first" in doc.read_text()
    doc.write_text(
        "# Benchmarks\n\nintro\n\n" + doc.read_text().split("\n", 2)[2] + "\n## Analysis\nmine\n"
    )
    report.update_doc(doc, f"{report.BEGIN}\nsecond\n{report.END}")
    text = doc.read_text()
    assert "second" in text and "first" not in text
    assert text.count(report.BEGIN) == 1
    assert "intro" in text and "## Analysis\nmine" in text


def test_two_runs_are_compared_on_cpu_points_and_instruction_percent() -> None:
    counts = [
        {"workload": "list", "mode": "off", "calls": 10, "instructions": 20_000_000},
        {"workload": "list", "mode": "default", "calls": 10, "instructions": 22_000_000},
    ]
    first = {"runs": RUNS + CPU, "instructions": counts}
    text, agree = report.compare(first, first)
    assert agree and "+15.6% / +15.6%: 0.0 points" in text and "0.00%" in text
    # list default 6% more CPU per request in every round: +15.6% -> +22.5%, 6.9 apart
    slower = [
        {**r, "server_cpu_us_per_req": r["server_cpu_us_per_req"] * 1.06}
        if (r["kind"], r["mode"]) == ("cpu", "default") else r
        for r in RUNS + CPU
    ]  # fmt: skip
    text, agree = report.compare(first, {"runs": slower, "instructions": counts})
    assert not agree and "+15.6% / +22.5%: 6.9 points" in text
    # Saturation CPU per request is not compared (it does not repeat): no verdict from it.
    noisy = [{**r, "server_cpu_us_per_req": r["server_cpu_us_per_req"] * 2} for r in RUNS]
    assert report.compare(first, {"runs": noisy + CPU, "instructions": counts})[1]
    # instructions 3% apart: not agreeing either
    more = [{**c, "instructions": int(c["instructions"] * 1.03)} for c in counts]
    assert not report.compare(first, {"runs": RUNS + CPU, "instructions": more})[1]


def test_write_block_replaces_one_modules_section_and_keeps_the_rest(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("intro\n<!-- x:begin -->\nold\n<!-- x:end -->\nafter\n")
    report.write_block(doc, "<!-- x:begin -->", "<!-- x:end -->", "new")
    assert doc.read_text() == "intro\n<!-- x:begin -->\nnew\n<!-- x:end -->\nafter\n"
    report.write_block(doc, "<!-- y:begin -->", "<!-- y:end -->", "more")  # absent: appended
    assert doc.read_text().endswith("after\n<!-- y:begin -->\nmore\n<!-- y:end -->")
