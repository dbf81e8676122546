"""The order context's copy of customer data, fed by the user context's events.

Data ownership (pattern 8): the user schema is closed to the order role, so the
order context keeps the few customer fields it needs (id, display name, email)
in its own schema, updated by a durable consumer on USER_EVENTS. The copy is
eventually consistent; each event applies once (`handle_once`), and an event
older than the stored row (a late redelivery) does not roll it back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from nats.aio.client import Client as NatsClient
from shop.user.events.v1 import events_pb2

from protomesh.bus.consumer import ConsumerSpec, DurableConsumer, Rejected
from protomesh.bus.decoding import DecodedEvent, EventTypes
from protomesh.bus.processed import handle_once
from protomesh.tls.files import TlsFiles
from services.order.streams import USER_EVENTS

CONSUMER = "order-customer-directory"
SPEC = ConsumerSpec(stream=USER_EVENTS.name, durable=CONSUMER, filter_subject="user.events.>")
EVENT_TYPES = EventTypes([events_pb2.UserRegistered, events_pb2.UserProfileChanged])


@dataclass(frozen=True)
class Customer:
    customer_id: uuid.UUID
    display_name: str
    email: str
    changed_at: datetime


class CustomerDirectory:
    """The handler and the reader of `customer_directory`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def handle(self, event: DecodedEvent) -> None:
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

        async def record(connection: asyncpg.pool.PoolConnectionProxy) -> None:
            await connection.execute(
                "INSERT INTO customer_directory (customer_id, display_name, email, changed_at)"
                " VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (customer_id) DO UPDATE"
                " SET display_name = EXCLUDED.display_name, email = EXCLUDED.email,"
                "     changed_at = EXCLUDED.changed_at, updated_at = now()"
                " WHERE customer_directory.changed_at <= EXCLUDED.changed_at",
                customer_id,
                message.display_name,
                message.email,
                changed_at,
            )

        await handle_once(self._pool, CONSUMER, event.id, record)

    async def get(self, customer_id: uuid.UUID) -> Customer | None:
        row = await self._pool.fetchrow(
            "SELECT customer_id, display_name, email, changed_at FROM customer_directory"
            " WHERE customer_id = $1",
            customer_id,
        )
        return None if row is None else Customer(*row)


def customer_directory_consumer(
    nats: NatsClient | str, pool: asyncpg.Pool, *, tls: TlsFiles | None = None
) -> DurableConsumer:
    """The worker the order service runs beside its RPCs when it has a NATS URL.

    `nats` is a URL (the worker connects, and waits for NATS) or a shared client.
    The schema needs `processed_events` (`install_processed_events`).
    """
    return DurableConsumer(nats, SPEC, EVENT_TYPES, CustomerDirectory(pool).handle, tls=tls)
