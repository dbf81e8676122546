"""Each section says how old its data is, and says Stale when a source stopped answering."""

from __future__ import annotations

from protomesh_toolkit.console.collector import STALE_AFTER, Reading, Snapshot
from protomesh_toolkit.console.overview import freshness


def snapshot(now: float) -> Snapshot:
    return Snapshot(now, [], Reading(), {}, {}, [], Reading(), None, 0)


def test_fresh_data_says_its_age() -> None:
    shown = freshness(snapshot(100.0), Reading(at=99.0), "health")
    assert "Health read 1s ago." in shown
    assert "Stale" not in shown


def test_old_data_is_stale_and_says_why() -> None:
    reading = Reading(at=100.0 - STALE_AFTER - 1, error="/jsz failed: connection refused")
    shown = freshness(snapshot(100.0), reading, "JetStream")
    assert 'class="stale" role="status"' in shown
    assert "Stale: JetStream last read 7s ago (/jsz failed: connection refused)." in shown


def test_nothing_read_yet_says_so() -> None:
    shown = freshness(snapshot(5.0), Reading(error="scrape failed: refused"), "user's metrics")
    assert "No user's metrics read yet: scrape failed: refused." in shown
