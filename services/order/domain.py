"""What an order is and the rules of its life. Standard library only
(plus the pure error vocabulary in protomesh.errors).

Amounts are integers in the currency's minor unit (cents), never floats, and
every total must fit PostgreSQL's and protobuf's int64. Each change bumps the
aggregate's `version`, which doubles as the per-aggregate sequence of the
events it publishes.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from protomesh.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unavailable,
)

INT64_MAX = 2**63 - 1
# ISO 4217 codes the shop sells in; anything else is refused at the door.
CURRENCIES = frozenset({"EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "JPY"})


class OrderNotFound(NotFound):
    def __init__(self, order_id: uuid.UUID | str) -> None:
        super().__init__("order", str(order_id))


class IllegalTransition(FailedPrecondition):
    """The order's status does not allow the change asked for."""

    def __init__(self, order_id: uuid.UUID, current: Status, wanted: Status) -> None:
        message = (
            f"order {order_id} is already {current.name}"
            if current == wanted
            else f"order {order_id} is {current.name} and cannot be {_DONE[wanted]}"
        )
        super().__init__(
            message,
            subject=f"order/{order_id}",
            kind="ORDER_STATUS",
        )
        self.current = current
        self.wanted = wanted


class UnknownCustomer(FailedPrecondition):
    def __init__(self, customer_id: uuid.UUID) -> None:
        super().__init__(
            f"customer {customer_id} does not exist",
            subject=f"customer/{customer_id}",
            kind="CUSTOMER_UNKNOWN",
        )


class PaymentDeclined(FailedPrecondition):
    """The customer's payment was refused: placing again as-is will not help."""

    def __init__(self) -> None:
        super().__init__(
            "the payment was declined; use another means of payment",
            subject="payment",
            kind="PAYMENT_DECLINED",
        )


class PaymentUnavailable(Unavailable):
    """No answer about the payment could be had now; the same call may be retried."""

    def __init__(self, retry_after: float = 1.0) -> None:
        super().__init__("payments cannot be taken right now", retry_after=retry_after)


class Unpaid(FailedPrecondition):
    """An order without a held payment cannot be confirmed."""

    def __init__(self, order_id: uuid.UUID) -> None:
        super().__init__(
            f"order {order_id} has no payment authorization",
            subject=f"order/{order_id}",
            kind="PAYMENT_MISSING",
        )


@dataclass(frozen=True)
class PaymentAuthorization:
    """A hold on the customer's funds for an order's total, as our side knows it.

    `reference` is whatever names the hold to the payment gateway; the domain
    never reads it, it only requires one.
    """

    reference: str
    amount: Money

    def __post_init__(self) -> None:
        if not self.reference:
            raise ValueError("a payment authorization needs a reference")


class Status(enum.Enum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    SHIPPED = "SHIPPED"
    CANCELLED = "CANCELLED"


# What a change to each status is called, for messages in the domain's words.
_DONE = {
    Status.PENDING: "placed again",
    Status.CONFIRMED: "confirmed",
    Status.SHIPPED: "shipped",
    Status.CANCELLED: "cancelled",
}

# Where each status may go next; SHIPPED and CANCELLED are final.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.CONFIRMED, Status.CANCELLED}),
    Status.CONFIRMED: frozenset({Status.SHIPPED, Status.CANCELLED}),
    Status.SHIPPED: frozenset(),
    Status.CANCELLED: frozenset(),
}


@dataclass(frozen=True)
class Money:
    currency: str
    amount_minor: int

    def __post_init__(self) -> None:
        if self.currency not in CURRENCIES:
            raise InvalidArgument([FieldViolation("currency_code", "not a currency we accept")])
        if not 0 <= self.amount_minor <= INT64_MAX:
            raise InvalidArgument([FieldViolation("amount_minor", "out of range")])


@dataclass(frozen=True)
class LineItem:
    sku: str
    quantity: int
    unit_price: Money

    @property
    def subtotal_minor(self) -> int:
        return self.quantity * self.unit_price.amount_minor


def total_of(items: list[LineItem] | tuple[LineItem, ...]) -> Money:
    """The sum of the lines; InvalidArgument on mixed currencies or a sum beyond int64."""
    if not items:
        raise InvalidArgument([FieldViolation("items", "an order needs at least one line")])
    currency = items[0].unit_price.currency
    total = 0
    for index, item in enumerate(items):
        if item.unit_price.currency != currency:
            raise InvalidArgument(
                [FieldViolation(f"items[{index}].unit_price.currency_code", "mixes currencies")]
            )
        total += item.subtotal_minor
        if total > INT64_MAX:
            raise InvalidArgument([FieldViolation("items", "the order total is too large")])
    return Money(currency, total)


@dataclass(frozen=True)
class OrderPlaced:
    order_id: uuid.UUID
    customer_id: uuid.UUID
    items: tuple[LineItem, ...]
    total: Money
    at: datetime
    version: int  # the order's version this event leaves it at: its place in the order's history


@dataclass(frozen=True)
class OrderCancelled:
    order_id: uuid.UUID
    customer_id: uuid.UUID
    reason: str
    at: datetime
    version: int


Event = OrderPlaced | OrderCancelled


@dataclass(frozen=True)
class Order:
    id: uuid.UUID
    customer_id: uuid.UUID
    items: tuple[LineItem, ...]
    total: Money
    status: Status
    version: int
    created_at: datetime
    updated_at: datetime
    # The hold on the customer's funds. Every order placed since payments has one;
    # None only for orders placed before, which therefore can never be confirmed.
    payment: PaymentAuthorization | None = None

    @classmethod
    def place(
        cls,
        *,
        customer_id: uuid.UUID,
        items: list[LineItem],
        payment: PaymentAuthorization,
        now: datetime,
    ) -> tuple[Order, OrderPlaced]:
        """A new PENDING order at version 1, paid by `payment`, and the fact that it was placed.

        The authorization must hold exactly the order's total: an order is never
        placed on a hold for another amount.
        """
        total = total_of(items)
        if payment.amount != total:
            raise ValueError(f"the payment holds {payment.amount}, the order costs {total}")
        order = cls(
            id=uuid.uuid4(),
            customer_id=customer_id,
            items=tuple(items),
            total=total,
            status=Status.PENDING,
            version=1,
            created_at=now,
            updated_at=now,
            payment=payment,
        )
        return order, OrderPlaced(order.id, customer_id, order.items, order.total, now, 1)

    def _become(self, status: Status, now: datetime) -> Order:
        if status not in TRANSITIONS[self.status]:
            raise IllegalTransition(self.id, self.status, status)
        return dataclasses.replace(self, status=status, version=self.version + 1, updated_at=now)

    def confirm(self, now: datetime) -> Order:
        """Only a paid order can be confirmed: no CONFIRMED order without an authorization."""
        if self.payment is None:
            raise Unpaid(self.id)
        return self._become(Status.CONFIRMED, now)

    def ship(self, now: datetime) -> Order:
        return self._become(Status.SHIPPED, now)

    def cancel(self, reason: str, now: datetime) -> tuple[Order, OrderCancelled]:
        """Any order that has not shipped can be cancelled, once."""
        cancelled = self._become(Status.CANCELLED, now)
        return cancelled, OrderCancelled(self.id, self.customer_id, reason, now, cancelled.version)
