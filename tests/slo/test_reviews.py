"""SLO reviews due from cadence and last review date."""

from __future__ import annotations

from datetime import date

import pytest

from slolab.cli import main
from slolab.slo.reviews import due, render

# Fixture SLOs: tasks-availability last 2026-09-01 every 90d -> 2026-11-30;
# tasks-latency 2026-11-01 + 90d -> 2027-01-30; model-freshness 2026-10-01 + 30d -> 2026-10-31.


def test_due_as_of_a_date(toolkit_slos) -> None:
    rows = due(toolkit_slos, date(2026, 11, 30))
    assert [(r.slo.name, r.days_overdue) for r in rows] == [
        ("model-freshness", 30),
        ("tasks-availability", 0),
    ]
    assert all(r.is_due for r in rows)


def test_nothing_due_before_the_first_date(toolkit_slos) -> None:
    assert due(toolkit_slos, date(2026, 10, 30)) == []
    assert render([], date(2026, 10, 30)) == "no SLO reviews due as of 2026-10-30"


def test_within_lists_upcoming_reviews(toolkit_slos) -> None:
    rows = due(toolkit_slos, date(2026, 10, 30), within_days=31)
    assert [(r.slo.name, r.days_overdue, r.is_due) for r in rows] == [
        ("model-freshness", -1, False),
        ("tasks-availability", -31, False),
    ]
    text = render(rows, date(2026, 10, 30))
    assert "model-freshness (ml-team): due in 1 days" in text
    assert "next 2026-11-30" in text
    with pytest.raises(ValueError, match="within_days"):
        due(toolkit_slos, date(2026, 10, 30), within_days=-1)


def test_cli_reviews(toolkit_slos_file, capsys) -> None:
    argv = ["slo", "reviews", "--file", str(toolkit_slos_file), "--as-of", "2026-12-01"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "tasks-availability (tasks-team): overdue by 1 days" in out
    assert "tasks-latency" not in out
    assert main([*argv, "--check"]) == 1
    assert main(["slo", "reviews", "-f", str(toolkit_slos_file), "--as-of", "2026-10-01",
                 "--check"]) == 0  # fmt: skip


def test_cli_reviews_bad_date(toolkit_slos_file, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["slo", "reviews", "-f", str(toolkit_slos_file), "--as-of", "tomorrow"])
    assert info.value.code == 2
    assert "'tomorrow' is not a date like 2026-01-31" in capsys.readouterr().err
