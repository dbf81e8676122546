"""The customer-directory handler over an in-memory copy: what it keeps, what it refuses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from shop.order.events.v1 import events_pb2 as order_events
from shop.user.events.v1 import events_pb2 as user_events

from protomesh.bus.consumer import Rejected
from protomesh.bus.decoding import DecodedEvent
from services.order.customer_directory import Customer, CustomerDirectoryHandler
from tests.unit.order.fakes import InMemoryCustomerCopy

ADA = uuid.uuid4()


def at(second: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC))
    return stamp


def delivered(message: Message, event_id: str | None = None) -> DecodedEvent:
    name = message.DESCRIPTOR.full_name
    return DecodedEvent(event_id or str(uuid.uuid4()), name, "1", name, message)


def changed(name: str, second: int, user_id: str = str(ADA)) -> user_events.UserProfileChanged:
    return user_events.UserProfileChanged(
        user_id=user_id, email="ada@example.com", display_name=name, occur_time=at(second)
    )


@pytest.fixture
def copy() -> InMemoryCustomerCopy:
    return InMemoryCustomerCopy()


async def test_a_registration_becomes_a_customer(copy: InMemoryCustomerCopy) -> None:
    registered = user_events.UserRegistered(
        user_id=str(ADA), email="ada@example.com", display_name="Ada", occur_time=at(1)
    )
    await CustomerDirectoryHandler(copy).handle(delivered(registered))
    assert copy.customers[ADA] == Customer(
        ADA, "Ada", "ada@example.com", datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    )


async def test_a_late_older_change_does_not_roll_the_copy_back(
    copy: InMemoryCustomerCopy,
) -> None:
    handler = CustomerDirectoryHandler(copy)
    await handler.handle(delivered(changed("Augusta", 5)))
    await handler.handle(delivered(changed("Ada", 2)))
    assert copy.customers[ADA].display_name == "Augusta"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (order_events.OrderPlaced(order_id="o"), "does not change the directory"),
        (changed("Ada", 1, user_id="not-a-uuid"), "is not a UUID"),
        (user_events.UserRegistered(user_id=str(ADA)), "no occur_time"),
    ],
)
async def test_a_malformed_event_is_rejected_and_changes_nothing(
    copy: InMemoryCustomerCopy, message: Message, reason: str
) -> None:
    with pytest.raises(Rejected, match=reason):
        await CustomerDirectoryHandler(copy).handle(delivered(message))
    assert copy.customers == {}
