"""PostgresOrderStore: orders in the service's own schema, through asyncpg.

Every write is one transaction holding three things: the order row, the
event row in the outbox (protomesh.outbox) and, for a call with an
idempotency key, the key and its response (protomesh.idempotency). After the
commit the relay is woken with a NOTIFY, a hint outside the business
transaction (the relay polls as well).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable

import asyncpg

from protomesh.idempotency import IdempotentCall, Replayed, claim, record, stored_response
from protomesh.outbox import append_event, notify_relay
from protomesh.telemetry.propagation import inject_headers
from services.order.domain import Event, LineItem, Money, Order, OrderNotFound, Status
from services.order.handlers import Once, PagePosition
from services.order.mapping import to_event

Connection = asyncpg.pool.PoolConnectionProxy
AGGREGATE_TYPE = "order"
_COLUMNS = "id, customer_id, items, currency, total_minor, status, version, created_at, updated_at"
log = logging.getLogger("services.order")


def _to_order(row: asyncpg.Record) -> Order:
    currency = row["currency"]
    items = tuple(
        LineItem(item["sku"], item["quantity"], Money(currency, item["unit_price_minor"]))
        for item in json.loads(row["items"])
    )
    return Order(
        id=row["id"],
        customer_id=row["customer_id"],
        items=items,
        total=Money(currency, row["total_minor"]),
        status=Status(row["status"]),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _items_json(order: Order) -> str:
    return json.dumps(
        [
            {"sku": i.sku, "quantity": i.quantity, "unit_price_minor": i.unit_price.amount_minor}
            for i in order.items
        ]
    )


class PostgresOrderStore:
    def __init__(self, pool: asyncpg.Pool, *, idempotency_retention: float) -> None:
        self._pool = pool
        self._retention = idempotency_retention

    async def replay(self, call: IdempotentCall) -> Replayed | None:
        response = await stored_response(self._pool, call)
        return None if response is None else Replayed(response)

    async def add(self, order: Order, event: Event, once: Once | None) -> Order | Replayed:
        async with self._pool.acquire() as connection:
            async with connection.transaction():
                if once is not None:
                    stored = await claim(connection, once.call, retention=self._retention)
                    if stored is not None:
                        return Replayed(stored)
                await connection.execute(
                    f"INSERT INTO orders ({_COLUMNS})"
                    " VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9)",
                    order.id,
                    order.customer_id,
                    _items_json(order),
                    order.total.currency,
                    order.total.amount_minor,
                    order.status.value,
                    order.version,
                    order.created_at,
                    order.updated_at,
                )
                await self._finish(connection, order, event, once)
            await self._wake_relay(connection)
        return order

    async def get(self, order_id: uuid.UUID) -> Order | None:
        row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM orders WHERE id = $1", order_id)
        return None if row is None else _to_order(row)

    async def page(
        self,
        customer_id: uuid.UUID,
        *,
        after: PagePosition | None,
        limit: int,
        status: Status | None,
    ) -> list[Order]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM orders WHERE customer_id = $1"
            " AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))"
            " AND ($5::text IS NULL OR status = $5)"
            " ORDER BY created_at DESC, id DESC LIMIT $4",
            customer_id,
            after.created_at if after else None,
            after.order_id if after else None,
            limit,
            status.value if status else None,
        )
        return [_to_order(row) for row in rows]

    async def change(
        self,
        order_id: uuid.UUID,
        apply: Callable[[Order], tuple[Order, Event]],
        once: Once | None,
    ) -> Order | Replayed:
        async with self._pool.acquire() as connection:
            async with connection.transaction():
                if once is not None:
                    stored = await claim(connection, once.call, retention=self._retention)
                    if stored is not None:
                        return Replayed(stored)
                row = await connection.fetchrow(
                    f"SELECT {_COLUMNS} FROM orders WHERE id = $1 FOR UPDATE", order_id
                )
                if row is None:
                    raise OrderNotFound(order_id)
                after, event = apply(_to_order(row))
                await connection.execute(
                    "UPDATE orders SET status = $2, version = $3, updated_at = $4 WHERE id = $1",
                    order_id,
                    after.status.value,
                    after.version,
                    after.updated_at,
                )
                await self._finish(connection, after, event, once)
            await self._wake_relay(connection)
        return after

    async def _finish(
        self, connection: Connection, order: Order, event: Event, once: Once | None
    ) -> None:
        """The event, and the key's response, in the transaction of the change."""
        await append_event(
            connection,
            aggregate_type=AGGREGATE_TYPE,
            aggregate_id=str(order.id),
            sequence=order.version,
            event=to_event(event),
            headers=inject_headers(),  # the request's trace and id, on to the consumers
        )
        if once is not None:
            await record(connection, once.call, once.encode(order))

    async def _wake_relay(self, connection: Connection) -> None:
        """Best effort: the change is committed; a lost hint only delays publishing."""
        try:
            await notify_relay(connection)
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("could not wake the outbox relay: %r", error)
