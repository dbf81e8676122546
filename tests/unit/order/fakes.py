"""In-memory ports with the same contracts as PostgresOrderStore and the user service."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from protomesh.errors import Unavailable
from protomesh.idempotency import IdempotentCall, KeyReused, Replayed
from services.order.domain import Event, Order, OrderNotFound, Status
from services.order.handlers import Once, PagePosition


class InMemoryOrderStore:
    def __init__(self) -> None:
        self.orders: dict[uuid.UUID, Order] = {}
        self.events: list[tuple[uuid.UUID, int, Event]] = []
        self.keys: dict[tuple[str, str], tuple[IdempotentCall, bytes]] = {}
        self._lock = asyncio.Lock()

    async def replay(self, call: IdempotentCall) -> Replayed | None:
        stored = self.keys.get((call.caller, call.key))
        if stored is None:
            return None
        first, response = stored
        if (first.method, first.request_hash) != (call.method, call.request_hash):
            raise KeyReused(call, first.method)
        return Replayed(response)

    def _save(self, order: Order, event: Event, once: Once | None) -> None:
        self.orders[order.id] = order
        self.events.append((order.id, order.version, event))
        if once is not None:
            self.keys[(once.call.caller, once.call.key)] = (once.call, once.encode(order))

    async def add(self, order: Order, event: Event, once: Once | None) -> Order | Replayed:
        async with self._lock:
            if once is not None and (stored := await self.replay(once.call)) is not None:
                return stored
            self._save(order, event, once)
            return order

    async def get(self, order_id: uuid.UUID) -> Order | None:
        return self.orders.get(order_id)

    async def page(
        self,
        customer_id: uuid.UUID,
        *,
        after: PagePosition | None,
        limit: int,
        status: Status | None,
    ) -> list[Order]:
        mine = [
            o
            for o in self.orders.values()
            if o.customer_id == customer_id and (status is None or o.status == status)
        ]
        mine.sort(key=lambda o: (o.created_at, str(o.id)), reverse=True)
        if after is not None:
            mine = [
                o
                for o in mine
                if (o.created_at, str(o.id)) < (after.created_at, str(after.order_id))
            ]
        return mine[:limit]

    async def change(
        self,
        order_id: uuid.UUID,
        apply: Callable[[Order], tuple[Order, Event]],
        once: Once | None,
    ) -> Order | Replayed:
        async with self._lock:
            if once is not None and (stored := await self.replay(once.call)) is not None:
                return stored
            order = self.orders.get(order_id)
            if order is None:
                raise OrderNotFound(order_id)
            changed, event = apply(order)
            self._save(changed, event, once)
            return changed


class FakeCustomers:
    """Knows a fixed set of customers; `down` makes it answer like an unreachable service."""

    def __init__(self, *known: uuid.UUID) -> None:
        self.known = set(known)
        self.down = False
        self.asked: list[uuid.UUID] = []

    async def exists(self, customer_id: uuid.UUID) -> bool:
        self.asked.append(customer_id)
        if self.down:
            raise Unavailable("the user service could not check the customer (UNAVAILABLE)")
        return customer_id in self.known
