"""The undo stack and the plan helpers (plain Python)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pctl.lifecycle.timefmt import ago
from pctl.lifecycle.undo import UndoStack


def test_unwinds_newest_first_and_keeps_going_after_a_failure():
    done: list[str] = []
    undo = UndoStack()
    undo.push("network", done.append, "network")
    undo.push("bucket", lambda: (_ for _ in ()).throw(RuntimeError("denied")))
    undo.push("cluster", done.append, "cluster")
    report = undo.unwind()
    assert done == ["cluster", "network"]
    assert report.undone == ["cluster", "network"]
    assert report.failed == [("bucket", "RuntimeError: denied")]
    assert "COULD NOT clean up: bucket" in report.summary()
    assert len(undo) == 0


def test_empty_stack_says_nothing_was_created():
    assert "nothing had been created" in UndoStack().unwind().summary()


def test_relative_times():
    now = datetime(2025, 1, 10, tzinfo=UTC)
    assert ago((now - timedelta(seconds=5)).isoformat(), now) == "just now"
    assert ago((now - timedelta(minutes=3)).isoformat(), now) == "3 min ago"
    assert ago((now - timedelta(hours=2)).isoformat(), now) == "2 h ago"
    assert ago((now - timedelta(days=1)).isoformat(), now) == "1 day ago"
    assert ago(None) == "-"
