"""The order context's use cases: one function each, over ports handed in.

A change runs in a unit of work (`OrderUnitOfWork`): load through its
repository, call one domain method, save, publish the domain's event, commit.
The unit makes the order, its outbox event and, for an idempotent call, the
reply one transaction; the transport decided whether the call is idempotent
and how its reply is serialized. Nothing here knows about gRPC or SQL.

Authorization by end user: `viewer` carries the subject the edge verified,
or says the call is internal (a mesh service's own, by its certificate). A
call that is neither (through the edge without a user, or without mTLS) is
UNAUTHENTICATED before anything is looked up. An end user sees and acts on
their own orders only: placing or listing for another customer is
PERMISSION_DENIED (the customer is in the request), while reading or
cancelling another customer's order is NOT_FOUND, exactly as for an order
that does not exist, so order ids cannot be probed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from protomesh.errors import FieldViolation, InvalidArgument, PermissionDenied, Unauthenticated
from protomesh.idempotency.calls import AlreadyAnswered, IdempotentReply
from protomesh.pagination import decode_page_token, encode_page_token
from protomesh.principal import Viewer
from protomesh.unit_of_work import UnitOfWork
from services.order.domain import (
    Event,
    LineItem,
    Money,
    Order,
    OrderNotFound,
    PaymentAuthorization,
    Status,
    UnknownCustomer,
    total_of,
)

Clock = Callable[[], datetime]
DEFAULT_PAGE_SIZE = 20
log = logging.getLogger("services.order.handlers")


@dataclass(frozen=True)
class PagePosition:
    """Where a page ends, in the store's newest-first (created_at, id) order."""

    created_at: datetime
    order_id: uuid.UUID


class CustomerCheck(Protocol):
    """Asks the user context whether a customer exists."""

    async def exists(self, customer_id: uuid.UUID) -> bool:
        """True or False; raises Unavailable when the answer cannot be had in time."""


class PaymentGateway(Protocol):
    """Takes payments, in the order context's words (services/order/payments/ adapts a provider)."""

    async def authorize(self, amount: Money, *, reference: str) -> PaymentAuthorization:
        """Hold `amount` on the customer's means of payment.

        The same `reference` never holds twice: a repeat gets the first hold.
        Raises PaymentDeclined (a final no) or PaymentUnavailable (no answer now).
        """

    async def void(self, payment: PaymentAuthorization) -> None:
        """Release a hold nobody will capture. Logs and returns when it cannot."""


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
    # Names this placing to the payment gateway: the same for every retry of one
    # idempotent call (the transport derives it from the idempotency key and the
    # request), fresh for a call without a key.
    payment_reference: str


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


def reveal(viewer: Viewer, order: Order) -> None:
    """Another customer's order does not exist, as far as this end user can tell."""
    identified(viewer)
    if viewer.end_user is not None and viewer.end_user != str(order.customer_id):
        raise OrderNotFound(order.id)


async def place_order(
    command: PlaceOrder,
    *,
    uow: OrderUnitOfWork,
    customers: CustomerCheck,
    payments: PaymentGateway,
    orders: OrderReader,
    clock: Clock,
    viewer: Viewer,
) -> Order:
    """Check the customer, hold the payment, then write the order and its event at once.

    The hold comes first, outside the transaction (a slow provider must not keep
    a connection and locks), so a transaction that fails afterwards must release
    it: no held payment without an order that knows it. A repeat of an idempotent
    call gets the provider's first hold again (same reference), and a concurrent
    twin that lost the race (`AlreadyAnswered`) leaves the hold to the order the
    winner committed with it.
    """
    authorize(viewer, command.customer_id)
    await uow.raise_if_answered()  # a repeat: checked and paid the first time
    if not await customers.exists(command.customer_id):
        raise UnknownCustomer(command.customer_id)
    payment = await payments.authorize(total_of(command.items), reference=command.payment_reference)
    order: Order | None = None
    committing = False
    try:
        async with uow:
            order, placed = Order.place(
                customer_id=command.customer_id, items=command.items, payment=payment, now=clock()
            )
            await uow.orders.add(order)
            uow.publish(placed)
            committing = True
            await uow.commit(order)
    except AlreadyAnswered:
        raise
    except BaseException:
        await _release(payment, order if committing else None, orders, payments)
        raise
    return order


async def _release(
    payment: PaymentAuthorization,
    in_doubt: Order | None,
    orders: OrderReader,
    payments: PaymentGateway,
) -> None:
    """Void the hold of an order that was not written.

    A failure during COMMIT leaves its outcome unknown (`in_doubt`): the order is
    looked up first, and when even that fails the hold is left and logged for
    reconciliation rather than voided under an order that may exist.
    """
    if in_doubt is not None:
        try:
            if await orders.get(in_doubt.id) is not None:
                return
        except Exception:
            log.error(
                "payment %s in doubt: order %s may or may not be stored",
                payment.reference,
                in_doubt.id,
            )
            return
    await payments.void(payment)


async def get_order(order_id: uuid.UUID, *, orders: OrderReader, viewer: Viewer) -> Order:
    identified(viewer)
    order = await orders.get(order_id)
    if order is None:
        raise OrderNotFound(order_id)
    reveal(viewer, order)
    return order


async def list_orders(query: ListOrders, *, orders: OrderReader, viewer: Viewer) -> OrderPage:
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
    command: CancelOrder,
    *,
    uow: OrderUnitOfWork,
    payments: PaymentGateway,
    clock: Clock,
    viewer: Viewer,
) -> Order:
    """Cancel, then release the order's hold once the cancellation is committed.

    The void comes after the commit, so a cancellation that fails never frees
    the money of a live order; a void that fails leaves the hold on a
    cancelled order that still names it (logged, for reconciliation).
    """
    async with uow:
        identified(viewer)
        order = await uow.orders.get_for_update(command.order_id)
        if order is None:
            raise OrderNotFound(command.order_id)
        reveal(viewer, order)
        cancelled, event = order.cancel(command.reason, clock())
        await uow.orders.save(cancelled)
        uow.publish(event)
        await uow.commit(cancelled)
    if cancelled.payment is not None:
        await payments.void(cancelled.payment)
    return cancelled


def _position(token: str, filter_key: str) -> PagePosition:
    position = decode_page_token(token, filter_key)
    try:
        return PagePosition(datetime.fromisoformat(position["t"]), uuid.UUID(position["id"]))
    except (KeyError, TypeError, ValueError):
        raise InvalidArgument(
            [FieldViolation("page_token", "not a page token issued by this API")]
        ) from None
