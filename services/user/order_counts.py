"""Orders per customer, kept by the user context from the order context's events.

A durable consumer on ORDER_EVENTS counts `OrderPlaced` and `OrderCancelled`
per customer in the user schema (`customer_order_counts`); the user service
never asks the order service, and the order service never writes here. Each
event counts once: the count and the event id commit together
(`handle_once`), so a redelivery changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from nats.aio.client import Client as NatsClient
from shop.order.events.v1 import events_pb2

from protomesh.bus.consumer import ConsumerSpec, DurableConsumer, Rejected
from protomesh.bus.decoding import DecodedEvent, EventTypes
from protomesh.bus.processed import handle_once
from protomesh.tls.files import TlsFiles
from services.user.streams import ORDER_EVENTS

CONSUMER = "user-order-counts"
SPEC = ConsumerSpec(stream=ORDER_EVENTS.name, durable=CONSUMER, filter_subject="order.events.v1.>")
EVENT_TYPES = EventTypes([events_pb2.OrderPlaced, events_pb2.OrderCancelled])


@dataclass(frozen=True)
class OrderCount:
    placed: int
    cancelled: int

    @property
    def open(self) -> int:
        """Orders placed and not cancelled."""
        return self.placed - self.cancelled


def _customer_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise Rejected(f"customer id {text!r} is not a UUID") from None


class OrderCountProjection:
    """The handler and the reader of `customer_order_counts`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def handle(self, event: DecodedEvent) -> None:
        message = event.message
        if isinstance(message, events_pb2.OrderPlaced):
            column = "placed_count"
        elif isinstance(message, events_pb2.OrderCancelled):
            column = "cancelled_count"
        else:
            raise Rejected(f"{event.type} is not counted")
        customer_id = _customer_id(message.customer_id)

        async def count(connection: asyncpg.pool.PoolConnectionProxy) -> None:
            await connection.execute(
                f"INSERT INTO customer_order_counts (customer_id, {column}) VALUES ($1, 1)"
                f" ON CONFLICT (customer_id) DO UPDATE"
                f" SET {column} = customer_order_counts.{column} + 1, updated_at = now()",
                customer_id,
            )

        await handle_once(self._pool, CONSUMER, event.id, count)

    async def count_for(self, customer_id: uuid.UUID) -> OrderCount:
        row = await self._pool.fetchrow(
            "SELECT placed_count, cancelled_count FROM customer_order_counts"
            " WHERE customer_id = $1",
            customer_id,
        )
        return OrderCount(0, 0) if row is None else OrderCount(row[0], row[1])


def order_counts_consumer(
    nats: NatsClient | str, pool: asyncpg.Pool, *, tls: TlsFiles | None = None
) -> DurableConsumer:
    """The worker the user service runs beside its RPCs when it has a NATS URL.

    `nats` is a URL (the worker connects, and waits for NATS) or a shared client.
    The schema needs `processed_events` (`install_processed_events`).
    """
    return DurableConsumer(nats, SPEC, EVENT_TYPES, OrderCountProjection(pool).handle, tls=tls)
