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


def test_schedule_with_reviewers_keeps_the_file_as_written(toolkit_slos_file, capsys) -> None:
    from slolab.slo.model import load

    before = toolkit_slos_file.read_text()
    argv = ["slo", "reviews", "-f", str(toolkit_slos_file)]
    assert main([*argv, "schedule", "tasks-latency", "2026-12-05", "--reviewers", "alice,bob"]) == 0
    after = toolkit_slos_file.read_text()
    # only the review line of tasks-latency changed; comments and layout stay
    changed = [
        (a, b)
        for a, b in zip(before.strip().splitlines(), after.strip().splitlines(), strict=True)
        if a != b
    ]
    assert changed == [(
        "    review: {cadence: 90d, last_review: 2026-11-01}",
        "    review: {cadence: 90d, last_review: 2026-11-01, scheduled: 2026-12-05, "
        "reviewers: [alice, bob]}",
    )]  # fmt: skip
    latency = {s.name: s for s in load(toolkit_slos_file)}["tasks-latency"]
    assert latency.review.reviewers == ("alice", "bob")
    assert latency.review.next_review == date(2026, 12, 5)  # not 2027-01-30 from the cadence
    capsys.readouterr()
    assert main([*argv, "--as-of", "2026-12-05"]) == 0
    out = capsys.readouterr().out
    assert "tasks-latency (tasks-team; reviewers alice, bob): due today" in out
    assert "next 2026-12-05, scheduled)" in out

    assert main([*argv, "done", "tasks-latency", "2026-12-06"]) == 0
    latency = {s.name: s for s in load(toolkit_slos_file)}["tasks-latency"]
    assert latency.review.last_review == date(2026, 12, 6) and latency.review.scheduled is None
    assert latency.review.next_review == date(2027, 3, 6)
    assert latency.review.reviewers == ("alice", "bob")


def test_schedule_errors_name_the_problem(toolkit_slos_file, capsys) -> None:
    argv = ["slo", "reviews", "-f", str(toolkit_slos_file)]
    before = toolkit_slos_file.read_text()
    assert main([*argv, "schedule", "nope", "2026-12-05"]) == 2
    assert "no SLO named 'nope'" in capsys.readouterr().err
    assert main([*argv, "schedule", "tasks-latency", "12/05/2026"]) == 2
    assert "is not a date" in capsys.readouterr().err
    assert main([*argv, "schedule", "tasks-latency"]) == 2
    assert main([*argv, "schedule", "tasks-latency", "2026-12-05", "--reviewers", "a,,b"]) == 2
    assert "empty name" in capsys.readouterr().err
    assert toolkit_slos_file.read_text() == before
