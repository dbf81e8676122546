"""The order context's use cases: one function each, over ports handed in.

A use case loads what it needs, applies one domain rule and saves through
the store, which makes the change, its event and its idempotency key one
transaction. Nothing here knows about gRPC or SQL.

Authorization by end user: `viewer` carries the subject the edge verified,
or says the call is internal (a mesh service's own, by its certificate). An
end user sees and acts on their own orders only; a call that is neither
(through the edge without a user, or without mTLS) is UNAUTHENTICATED.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from protomesh.errors import (
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
)
from protomesh.idempotency.calls import IdempotentCall, Replayed
from protomesh.pagination import decode_page_token, encode_page_token
from protomesh.principal import Viewer
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


@dataclass(frozen=True)
class Once:
    """An idempotent call, and how to serialize its response for a repeat to get."""

    call: IdempotentCall
    encode: Callable[[Order], bytes]


class CustomerCheck(Protocol):
    """Asks the user context whether a customer exists."""

    async def exists(self, customer_id: uuid.UUID) -> bool:
        """True or False; raises Unavailable when the answer cannot be had in time."""


class OrderStore(Protocol):
    async def replay(self, call: IdempotentCall) -> Replayed | None:
        """The stored response of a finished call with this key, before doing any work."""

    async def add(self, order: Order, event: Event, once: Once | None) -> Order | Replayed:
        """Insert the order and its event (and spend the key), in one transaction."""

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

    async def change(
        self,
        order_id: uuid.UUID,
        apply: Callable[[Order], tuple[Order, Event]],
        once: Once | None,
    ) -> Order | Replayed:
        """Lock the order, apply the change, save it and its event, in one transaction.

        Raises OrderNotFound; whatever `apply` raises rolls everything back.
        """


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


def identified(viewer: Viewer) -> None:
    """Anyone but a signed-in user or a mesh service (the edge without a user, a plaintext
    caller) is refused before anything is looked up: not even whether an order exists."""
    if viewer.end_user is None and not viewer.internal:
        raise Unauthenticated("this call needs a signed-in user")


def authorize(viewer: Viewer, customer_id: uuid.UUID) -> None:
    """An end user may only touch their own orders; a mesh service may touch any."""
    identified(viewer)
    if viewer.end_user is not None and viewer.end_user != str(customer_id):
        raise PermissionDenied("this order belongs to another customer")


async def place_order(
    command: PlaceOrder,
    *,
    store: OrderStore,
    customers: CustomerCheck,
    clock: Clock,
    viewer: Viewer,
    once: Once | None,
) -> Order | Replayed:
    authorize(viewer, command.customer_id)
    if once is not None and (stored := await store.replay(once.call)) is not None:
        return stored  # a repeat: the customer was checked the first time
    if not await customers.exists(command.customer_id):
        raise UnknownCustomer(command.customer_id)
    order, placed = Order.place(customer_id=command.customer_id, items=command.items, now=clock())
    return await store.add(order, placed, once)


async def get_order(order_id: uuid.UUID, *, store: OrderStore, viewer: Viewer) -> Order:
    identified(viewer)
    order = await store.get(order_id)
    if order is None:
        raise OrderNotFound(order_id)
    authorize(viewer, order.customer_id)
    return order


async def list_orders(query: ListOrders, *, store: OrderStore, viewer: Viewer) -> OrderPage:
    authorize(viewer, query.customer_id)
    limit = query.page_size or DEFAULT_PAGE_SIZE
    status = query.status.value if query.status else ""
    filter_key = f"customer={query.customer_id};status={status}"
    after = _position(query.page_token, filter_key) if query.page_token else None
    orders = await store.page(query.customer_id, after=after, limit=limit + 1, status=query.status)
    if len(orders) <= limit:
        return OrderPage(orders, "")
    last = orders[limit - 1]
    token = encode_page_token({"t": last.created_at.isoformat(), "id": str(last.id)}, filter_key)
    return OrderPage(orders[:limit], token)


async def cancel_order(
    command: CancelOrder,
    *,
    store: OrderStore,
    clock: Clock,
    viewer: Viewer,
    once: Once | None,
) -> Order | Replayed:
    identified(viewer)

    def apply(order: Order) -> tuple[Order, Event]:
        authorize(viewer, order.customer_id)
        return order.cancel(command.reason, clock())

    return await store.change(command.order_id, apply, once)


def _position(token: str, filter_key: str) -> PagePosition:
    position = decode_page_token(token, filter_key)
    try:
        return PagePosition(datetime.fromisoformat(position["t"]), uuid.UUID(position["id"]))
    except (KeyError, TypeError, ValueError):
        raise InvalidArgument(
            [FieldViolation("page_token", "not a page token issued by this API")]
        ) from None
