"""mesh.yaml's per-service `retention`: defaults, durations, and the floor on processed ids."""

from __future__ import annotations

from typing import Any

import pytest

from protomesh.bus.streams import events_stream
from protomesh.registry import Retention, parse_mesh
from protomesh.registry.model import EVENT_STREAM_MAX_AGE
from tests.unit.protomesh.registry.test_registry import mesh_with, problems_in

PATH = "services.user.retention"


def with_retention(retention: object) -> str:
    def change(document: dict[str, Any]) -> None:
        document["services"]["user"]["retention"] = retention

    return mesh_with(change)


def test_a_service_without_retention_gets_the_defaults() -> None:
    retention = parse_mesh(mesh_with(lambda _: None)).services["user"].retention
    assert retention == Retention()
    assert retention.processed_events > EVENT_STREAM_MAX_AGE


def test_durations_read_in_seconds_minutes_hours_and_days() -> None:
    text = with_retention({"processed_events": "10d", "outbox": "2h", "every": "90s", "batch": 50})
    retention = parse_mesh(text).services["user"].retention
    assert retention == Retention(
        processed_events=10 * 86400.0, outbox=7200.0, every=90.0, batch=50
    )


def test_the_floor_is_the_max_age_of_the_streams_the_runtime_declares() -> None:
    # The registry cannot import the bus; this pins the two together.
    assert events_stream("order").max_age == EVENT_STREAM_MAX_AGE


def test_processed_ids_kept_shorter_than_the_streams_keep_events_are_refused() -> None:
    problems = problems_in(with_retention({"processed_events": "6d"}))
    assert len(problems) == 1
    assert problems[0].startswith(f"{PATH}.processed_events: '6d' is shorter than")
    assert "max_age (7d)" in problems[0]


@pytest.mark.parametrize(
    ("retention", "problem"),
    [
        ({"outbox": "1w"}, f"{PATH}.outbox: '1w' is not a duration like 30s, 5m, 1h or 8d"),
        ({"every": 300}, f"{PATH}.every: 300 is not a duration like 30s, 5m, 1h or 8d"),
        ({"every": "0s"}, f"{PATH}.every: '0s' is not a duration"),
        ({"batch": 0}, f"{PATH}.batch: 0 is not a whole number >= 1"),
        ({"batch": 50_000}, f"{PATH}.batch: 50000 is above 10000"),
        ({"outbx": "1h"}, f"{PATH}.outbx: unknown key (did you mean outbox?)"),
        ("8d", f"{PATH}: expected a mapping, got str"),
    ],
)
def test_bad_retention_is_reported_at_its_path(retention: object, problem: str) -> None:
    assert any(p.startswith(problem) for p in problems_in(with_retention(retention)))
