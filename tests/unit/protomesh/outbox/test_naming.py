"""Event names on the wire: subject, schema version and source from the proto full name."""

from __future__ import annotations

import pytest
from shop.order.events.v1 import events_pb2 as order_events
from shop.user.events.v1 import events_pb2 as user_events

from protomesh.outbox.naming import EventNameError, schema_version, source_for, subject_for


def test_the_subject_drops_the_root_so_streams_capture_each_context() -> None:
    assert subject_for(order_events.OrderPlaced.DESCRIPTOR.full_name) == (
        "order.events.v1.OrderPlaced"
    )
    assert subject_for(user_events.UserRegistered.DESCRIPTOR.full_name) == (
        "user.events.v1.UserRegistered"
    )


def test_the_schema_version_is_the_packages_major_version() -> None:
    assert schema_version("shop.order.events.v1.OrderPlaced") == 1
    assert schema_version("shop.order.events.v12.OrderPlaced") == 12


def test_the_source_names_the_owning_context() -> None:
    assert source_for("shop.order.events.v1.OrderPlaced") == "/shop/order"


@pytest.mark.parametrize(
    "name",
    [
        "shop.order.v1.Order",  # an RPC message, not an event
        "shop.order.events.OrderPlaced",  # no version
        "other.order.events.v1.OrderPlaced",  # outside the shop root
        "shop.order.events.v0.OrderPlaced",  # versions start at 1
    ],
)
def test_messages_outside_the_event_packages_are_refused(name: str) -> None:
    with pytest.raises(EventNameError):
        subject_for(name)
