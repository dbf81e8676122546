"""In-memory ports with the same contracts as the order store and the user service."""

from __future__ import annotations

import asyncio
import uuid

from protomesh.errors import Unavailable
from protomesh.idempotency import IdempotentReply
from services.order.customer_directory import Customer
from services.order.domain import (
    Event,
    Money,
    Order,
    PaymentAuthorization,
    PaymentDeclined,
    PaymentUnavailable,
    Status,
)
from services.order.handlers import PagePosition
from tests.unit.protomesh.fake_unit_of_work import InMemoryLedger, InMemoryUnitOfWork


class InMemoryOrderRepository:
    def __init__(self, rows: dict[uuid.UUID, Order]) -> None:
        self._rows = rows

    async def get_for_update(self, order_id: uuid.UUID) -> Order | None:
        return self._rows.get(order_id)

    async def add(self, order: Order) -> None:
        self._rows[order.id] = order

    async def save(self, order: Order) -> None:
        self._rows[order.id] = order


class InMemoryOrderUnitOfWork(InMemoryUnitOfWork[Order, Event, Order]):
    @property
    def orders(self) -> InMemoryOrderRepository:
        return InMemoryOrderRepository(self.rows)


class InMemoryOrders:
    """The OrderReader, and the units of work writing the same orders."""

    def __init__(self) -> None:
        self.orders: dict[uuid.UUID, Order] = {}
        self.events: list[Event] = []
        self.ledger = InMemoryLedger()
        self._lock = asyncio.Lock()

    def unit_of_work(self, reply: IdempotentReply[Order] | None = None) -> InMemoryOrderUnitOfWork:
        return InMemoryOrderUnitOfWork(self.orders, self.events, self.ledger, self._lock, reply)

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


class InMemoryCustomerCopy:
    """The CustomerCopy and KnownCustomers contracts of PostgresCustomerDirectory, in a dict."""

    def __init__(self) -> None:
        self.customers: dict[uuid.UUID, Customer] = {}
        self.applied: set[str] = set()

    async def apply_once(self, event_id: str, customer: Customer) -> bool:
        if event_id in self.applied:
            return False
        self.applied.add(event_id)
        stored = self.customers.get(customer.customer_id)
        if stored is None or stored.changed_at <= customer.changed_at:
            self.customers[customer.customer_id] = customer
        return True

    async def knows(self, customer_id: uuid.UUID) -> bool:
        return customer_id in self.customers


class FakePayments:
    """The PaymentGateway contract in memory: holds by reference, once each.

    `declining` refuses every authorization, `down` answers like an unreachable
    provider; `holds` maps each reference to its hold, `voided` lists released ones.
    """

    def __init__(self) -> None:
        self.declining = False
        self.down = False
        self.holds: dict[str, PaymentAuthorization] = {}
        self.voided: list[PaymentAuthorization] = []

    async def authorize(self, amount: Money, *, reference: str) -> PaymentAuthorization:
        if self.down:
            raise PaymentUnavailable()
        if self.declining:
            raise PaymentDeclined()
        if reference not in self.holds:
            self.holds[reference] = PaymentAuthorization(f"hold-{len(self.holds) + 1}", amount)
        return self.holds[reference]

    async def void(self, payment: PaymentAuthorization) -> None:
        self.voided.append(payment)

    @property
    def held(self) -> list[PaymentAuthorization]:
        """Holds still standing."""
        return [p for p in self.holds.values() if p not in self.voided]
