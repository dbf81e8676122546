"""The order context's use cases: one function each, over ports handed in.

A change runs in a unit of work (`OrderUnitOfWork`): load through its
repository, call one domain method, save, publish the domain's event, commit.
The unit makes the order, its outbox event and, for an idempotent call, the
reply one transaction; the transport decided whether the call is idempotent
and how its reply is serialized. Nothing here knows about gRPC or SQL.

Authorization by end user: `viewer` is the subject the edge verified, or None
for a service-to-service call (trusted inside the mesh). An end user sees and
acts on their own orders only: placing or listing for another customer is
PERMISSION_DENIED (the customer is in the request), while reading or
cancelling another customer's order is NOT_FOUND, exactly as for an order
that does not exist, so order ids cannot be probed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from protomesh.errors import FieldViolation, InvalidArgument, PermissionDenied
from protomesh.idempotency.calls import IdempotentReply
from protomesh.pagination import decode_page_token, encode_page_token
from protomesh.unit_of_work import UnitOfWork
from services.order.domain import (
    Event,
    LineItem,
    Order,
    OrderNotFound,
    Status,
    UnknownCustomer,
)

Clock = Callable[[], datetime]
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True)
class PagePosition:
    """Where a page ends, in the store's newest-first (created_at, id) order."""

    created_at: datetime
    order_id: uuid.UUID


class CustomerCheck(Protocol):
    """Asks the user context whether a customer exists."""

    async def exists(self, customer_id: uuid.UUID) -> bool:
        """True or False; raises Unavailable when the answer cannot be had in time."""


class OrderReader(Protocol):
    """Reads outside any unit of work: what a caller sees, committed."""

    async def get(self, order_id: uuid.UUID) -> Order | None: ...

    async def page(
        self,
        customer_id: uuid.UUID,
        *,
        after: PagePosition | None,
        limit: int,
        status: Status | None,
    ) -> list[Order]:
        """The customer's orders (in `status`, if given), newest first, strictly after `after`."""


class OrderRepository(Protocol):
    """Orders inside a unit of work."""

    async def get_for_update(self, order_id: uuid.UUID) -> Order | None:
        """The order, locked against concurrent changes until the unit ends."""

    async def add(self, order: Order) -> None: ...

    async def save(self, order: Order) -> None:
        """Write a changed order loaded by `get_for_update`."""


class OrderUnitOfWork(UnitOfWork[Event, Order], Protocol):
    @property
    def orders(self) -> OrderRepository: ...


# Builds the unit of work for one call: idempotent when the transport gives a reply.
UnitsOfWork = Callable[[IdempotentReply[Order] | None], OrderUnitOfWork]


@dataclass(frozen=True)
class PlaceOrder:
    customer_id: uuid.UUID
    items: list[LineItem]


@dataclass(frozen=True)
class CancelOrder:
    order_id: uuid.UUID
    reason: str = ""


@dataclass(frozen=True)
class ListOrders:
    customer_id: uuid.UUID
    page_size: int = 0
    page_token: str = ""
    status: Status | None = None


@dataclass(frozen=True)
class OrderPage:
    orders: list[Order]
    next_page_token: str


def authorize(viewer: str | None, customer_id: uuid.UUID) -> None:
    """An end user may only touch their own orders; internal callers may touch any."""
    if viewer is not None and viewer != str(customer_id):
        raise PermissionDenied("this order belongs to another customer")


def reveal(viewer: str | None, order: Order) -> None:
    """Another customer's order does not exist, as far as this end user can tell."""
    if viewer is not None and viewer != str(order.customer_id):
        raise OrderNotFound(order.id)


async def place_order(
    command: PlaceOrder,
    *,
    uow: OrderUnitOfWork,
    customers: CustomerCheck,
    clock: Clock,
    viewer: str | None,
) -> Order:
    authorize(viewer, command.customer_id)
    await uow.raise_if_answered()  # a repeat: the customer was checked the first time
    if not await customers.exists(command.customer_id):
        raise UnknownCustomer(command.customer_id)
    async with uow:
        order, placed = Order.place(
            customer_id=command.customer_id, items=command.items, now=clock()
        )
        await uow.orders.add(order)
        uow.publish(placed)
        await uow.commit(order)
    return order


async def get_order(order_id: uuid.UUID, *, orders: OrderReader, viewer: str | None) -> Order:
    order = await orders.get(order_id)
    if order is None:
        raise OrderNotFound(order_id)
    reveal(viewer, order)
    return order


async def list_orders(query: ListOrders, *, orders: OrderReader, viewer: str | None) -> OrderPage:
    authorize(viewer, query.customer_id)
    limit = query.page_size or DEFAULT_PAGE_SIZE
    status = query.status.value if query.status else ""
    filter_key = f"customer={query.customer_id};status={status}"
    after = _position(query.page_token, filter_key) if query.page_token else None
    found = await orders.page(query.customer_id, after=after, limit=limit + 1, status=query.status)
    if len(found) <= limit:
        return OrderPage(found, "")
    last = found[limit - 1]
    token = encode_page_token({"t": last.created_at.isoformat(), "id": str(last.id)}, filter_key)
    return OrderPage(found[:limit], token)


async def cancel_order(
    command: CancelOrder, *, uow: OrderUnitOfWork, clock: Clock, viewer: str | None
) -> Order:
    async with uow:
        order = await uow.orders.get_for_update(command.order_id)
        if order is None:
            raise OrderNotFound(command.order_id)
        reveal(viewer, order)
        cancelled, event = order.cancel(command.reason, clock())
        await uow.orders.save(cancelled)
        uow.publish(event)
        await uow.commit(cancelled)
    return cancelled


def _position(token: str, filter_key: str) -> PagePosition:
    position = decode_page_token(token, filter_key)
    try:
        return PagePosition(datetime.fromisoformat(position["t"]), uuid.UUID(position["id"]))
    except (KeyError, TypeError, ValueError):
        raise InvalidArgument(
            [FieldViolation("page_token", "not a page token issued by this API")]
        ) from None
