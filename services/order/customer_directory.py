"""The order context's copy of customer data, fed by the user context's events.

Data ownership (pattern 8): the user schema is closed to the order role, so the
order context keeps the few customer fields it needs (id, display name, email)
in its own schema, updated by a durable consumer on USER_EVENTS. The copy is
eventually consistent.

This module is the handler: it turns a user event into the `Customer` it
describes, refusing what is malformed, and hands it to a `CustomerCopy`
(`PostgresCustomerDirectory` in `customer_store.py`, an in-memory fake in the
unit tests), which applies each event once and never lets an older event
(a late redelivery) roll a newer row back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from shop.user.events.v1 import events_pb2

from protomesh.bus.consumer import ConsumerSpec, Rejected
from protomesh.bus.decoding import DecodedEvent, EventTypes
from services.order.streams import USER_EVENTS

CONSUMER = "order-customer-directory"
SPEC = ConsumerSpec(stream=USER_EVENTS.name, durable=CONSUMER, filter_subject="user.events.v1.>")
EVENT_TYPES = EventTypes([events_pb2.UserRegistered, events_pb2.UserProfileChanged])


@dataclass(frozen=True)
class Customer:
    customer_id: uuid.UUID
    display_name: str
    email: str
    changed_at: datetime


class CustomerCopy(Protocol):
    async def apply_once(self, event_id: str, customer: Customer) -> bool:
        """Store `customer` unless event `event_id` was applied before (then False);
        a stored row changed later than `customer.changed_at` is kept as it is."""


def customer_from(event: DecodedEvent) -> Customer:
    """The customer a user event describes; Rejected (dead-lettered) when malformed."""
    message = event.message
    if not isinstance(message, events_pb2.UserRegistered | events_pb2.UserProfileChanged):
        raise Rejected(f"{event.type} does not change the directory")
    try:
        customer_id = uuid.UUID(message.user_id)
    except ValueError:
        raise Rejected(f"user id {message.user_id!r} is not a UUID") from None
    if not message.HasField("occur_time"):
        raise Rejected("the event has no occur_time")
    changed_at = message.occur_time.ToDatetime(tzinfo=UTC)
    return Customer(customer_id, message.display_name, message.email, changed_at)


class CustomerDirectoryHandler:
    """The consumer's handler: one user event, one upsert of the copy."""

    def __init__(self, copy: CustomerCopy) -> None:
        self._copy = copy

    async def handle(self, event: DecodedEvent) -> None:
        await self._copy.apply_once(event.id, customer_from(event))
