"""A batch is published in waves so no aggregate has two events in flight at once."""

from __future__ import annotations

from datetime import UTC, datetime

from protomesh.bus.publisher import OutgoingEvent
from protomesh.outbox.claims import publish_waves


def event(aggregate_id: str, sequence: int) -> OutgoingEvent:
    return OutgoingEvent(
        event_id=f"{aggregate_id}/{sequence}",
        event_type="shop.order.events.v1.OrderPlaced",
        schema_version=1,
        subject="order.events.v1.OrderPlaced",
        payload=b"",
        occurred_at=datetime.now(UTC),
        source="/shop/order",
        aggregate_type="order",
        aggregate_id=aggregate_id,
        sequence=sequence,
    )


def test_each_wave_holds_at_most_one_event_per_aggregate_in_sequence_order() -> None:
    batch = [event("b", 1), event("a", 0), event("b", 0), event("c", 4), event("b", 2)]
    waves = [[e.event_id for e in wave] for wave in publish_waves(batch)]
    assert waves == [["a/0", "b/0", "c/4"], ["b/1"], ["b/2"]]


def test_an_empty_batch_has_no_waves() -> None:
    assert publish_waves([]) == []
