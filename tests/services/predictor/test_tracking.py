from __future__ import annotations

import pytest

from slolab.services.predictor.tracking import ConflictingFeedback, Tracked, Tracker

ROW = (10.0, 0.0, 1.0, 2.0)


def test_forgets_the_oldest_beyond_its_size() -> None:
    t = Tracker(max_size=3)
    for i in range(5):
        t.add(f"p{i}", Tracked(ROW, "low"))
    assert len(t) == 3
    assert t.feedback("p0", "low") is None and t.feedback("p1", "low") is None
    assert t.feedback("p4", "low").correct


def test_feedback_is_recorded_once() -> None:
    t = Tracker(10)
    t.add("p", Tracked(ROW, "medium"))
    first = t.feedback("p", "high")
    assert (first.correct, first.duplicate) == (False, False)
    again = t.feedback("p", "high")
    assert (again.correct, again.duplicate) == (False, True)
    with pytest.raises(ConflictingFeedback):
        t.feedback("p", "medium")
    assert t.labelled() == [(*ROW, "high")]


def test_labelled_keeps_the_features_and_the_truth() -> None:
    t = Tracker(10)
    t.add("a", Tracked(ROW, "low"))
    t.add("b", Tracked((5.0, 1.0, 0.0, 1.0), "high"))
    t.feedback("b", "medium")
    assert t.labelled() == [(5.0, 1.0, 0.0, 1.0, "medium")]
