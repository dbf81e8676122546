"""PostgresCustomerDirectory: the order context's customer copy in its own schema.

Each event applies once: the row and the event id commit together
(`protomesh.bus.processed.handle_once`), and an upsert keeps a row changed
later than the event (`changed_at`), so a late redelivery never rolls it back.
"""

from __future__ import annotations

import uuid

import asyncpg

from protomesh.bus.processed import handle_once
from services.order.customer_directory import CONSUMER, Customer

_UPSERT = (
    "INSERT INTO customer_directory (customer_id, display_name, email, changed_at)"
    " VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (customer_id) DO UPDATE"
    " SET display_name = EXCLUDED.display_name, email = EXCLUDED.email,"
    "     changed_at = EXCLUDED.changed_at, updated_at = now()"
    " WHERE customer_directory.changed_at <= EXCLUDED.changed_at"
)

_KNOWS = "SELECT true FROM customer_directory WHERE customer_id = $1"


class PostgresCustomerDirectory:
    """The writer (`CustomerCopy`) and the readers (`KnownCustomers`, `get`) of the copy."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def apply_once(self, event_id: str, customer: Customer) -> bool:
        async def upsert(connection: asyncpg.pool.PoolConnectionProxy) -> None:
            await connection.execute(
                _UPSERT,
                customer.customer_id,
                customer.display_name,
                customer.email,
                customer.changed_at,
            )

        return await handle_once(self._pool, CONSUMER, event_id, upsert)

    async def knows(self, customer_id: uuid.UUID) -> bool:
        """The copy holds the customer (`services.order.customer_check`): one index probe."""
        return bool(await self._pool.fetchval(_KNOWS, customer_id))

    async def get(self, customer_id: uuid.UUID) -> Customer | None:
        row = await self._pool.fetchrow(
            "SELECT customer_id, display_name, email, changed_at FROM customer_directory"
            " WHERE customer_id = $1",
            customer_id,
        )
        return None if row is None else Customer(*row)
