"""Orders in the service's own schema, through asyncpg.

`PostgresOrderReader` reads committed orders from the pool. A change runs in
a `PostgresOrderUnitOfWork`: one transaction (protomesh.db.unit_of_work)
holding the order row, written by `PostgresOrderRepository` on the unit's
connection, its event in the outbox and, for an idempotent call, the key and
its reply.
"""

from __future__ import annotations

import json
import uuid

import asyncpg

from protomesh.db.unit_of_work import OutboxRecord, PostgresUnitOfWork
from protomesh.idempotency.calls import IdempotentReply
from services.order.domain import Event, LineItem, Money, Order, PaymentAuthorization, Status
from services.order.handlers import PagePosition
from services.order.mapping import to_event

AGGREGATE_TYPE = "order"
_COLUMNS = (
    "id, customer_id, items, currency, total_minor, status, version, created_at, updated_at,"
    " payment_reference"
)


def _to_order(row: asyncpg.Record) -> Order:
    currency = row["currency"]
    items = tuple(
        LineItem(item["sku"], item["quantity"], Money(currency, item["unit_price_minor"]))
        for item in json.loads(row["items"])
    )
    total = Money(currency, row["total_minor"])
    reference = row["payment_reference"]
    return Order(
        id=row["id"],
        customer_id=row["customer_id"],
        items=items,
        total=total,
        status=Status(row["status"]),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        payment=None if reference is None else PaymentAuthorization(reference, total),
    )


def _items_json(order: Order) -> str:
    return json.dumps(
        [
            {"sku": i.sku, "quantity": i.quantity, "unit_price_minor": i.unit_price.amount_minor}
            for i in order.items
        ]
    )


def outbox_record(event: Event) -> OutboxRecord:
    """The order's version after the event is the event's per-order sequence."""
    return OutboxRecord(AGGREGATE_TYPE, str(event.order_id), event.version, to_event(event))


class PostgresOrderReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

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


class PostgresOrderRepository:
    """Orders on a unit of work's connection, inside its transaction."""

    def __init__(self, connection: asyncpg.pool.PoolConnectionProxy) -> None:
        self._connection = connection

    async def get_for_update(self, order_id: uuid.UUID) -> Order | None:
        row = await self._connection.fetchrow(
            f"SELECT {_COLUMNS} FROM orders WHERE id = $1 FOR UPDATE", order_id
        )
        return None if row is None else _to_order(row)

    async def add(self, order: Order) -> None:
        await self._connection.execute(
            f"INSERT INTO orders ({_COLUMNS})"
            " VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10)",
            order.id,
            order.customer_id,
            _items_json(order),
            order.total.currency,
            order.total.amount_minor,
            order.status.value,
            order.version,
            order.created_at,
            order.updated_at,
            None if order.payment is None else order.payment.reference,
        )

    async def save(self, order: Order) -> None:
        await self._connection.execute(
            "UPDATE orders SET status = $2, version = $3, updated_at = $4 WHERE id = $1",
            order.id,
            order.status.value,
            order.version,
            order.updated_at,
        )


class PostgresOrderUnitOfWork(PostgresUnitOfWork[Event, Order]):
    def __init__(
        self, pool: asyncpg.Pool, reply: IdempotentReply[Order] | None, *, retention: float
    ) -> None:
        super().__init__(pool, to_outbox=outbox_record, reply=reply, retention=retention)

    @property
    def orders(self) -> PostgresOrderRepository:
        return PostgresOrderRepository(self.connection)
