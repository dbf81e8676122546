"""Events from ORDER_EVENTS and USER_EVENTS, read as the facts the summary understands.

The reporting context's anti-corruption seam: the only module that knows the
other contexts' event messages. An event it cannot read as a fact (a
customer id that is not a UUID) is `Rejected`, and the consumer parks it.
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime

from google.protobuf.message import Message
from shop.order.events.v1 import events_pb2 as order_events
from shop.user.events.v1 import events_pb2 as user_events

from protomesh.bus.consumer import Rejected
from protomesh.bus.decoding import EventTypes
from services.reporting.domain import CustomerNamed, Fact, OrderCancelled, OrderPlaced

ORDER_TYPES = EventTypes([order_events.OrderPlaced, order_events.OrderCancelled])
USER_TYPES = EventTypes([user_events.UserRegistered, user_events.UserProfileChanged])


@functools.lru_cache(maxsize=65536)  # a replay meets each customer many times
def _customer(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise Rejected(f"customer id {text!r} is not a UUID") from None


def fact_of(message: Message, event_time: datetime) -> Fact:
    """The fact an event states; `event_time` (ce-time) stands in for a missing occur_time."""
    if isinstance(message, order_events.OrderPlaced):
        time = message.occur_time.ToDatetime(UTC) if message.HasField("occur_time") else event_time
        return OrderPlaced(
            order_id=message.order_id,
            customer_id=_customer(message.customer_id),
            currency_code=message.total.currency_code,
            amount_minor=message.total.amount_minor,
            time=time,
        )
    if isinstance(message, order_events.OrderCancelled):
        return OrderCancelled(message.order_id, _customer(message.customer_id))
    if isinstance(message, user_events.UserRegistered | user_events.UserProfileChanged):
        return CustomerNamed(_customer(message.user_id), message.display_name)
    raise Rejected(f"{message.DESCRIPTOR.full_name} is not read by the reporting context")


def event_time(text: str) -> datetime:
    """An event's ce-time; an event without one is dated now (it is being applied now)."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return datetime.now(UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
