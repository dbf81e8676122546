"""A customer's order summary, and how each fact changes it.

The one place the read model's rules live: the live projector applies them to
one customer's stored summary, the rebuild folds the whole history through
them in memory, so both arrive at the same model. Pure: standard library
only, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime


@dataclass(frozen=True)
class OrderPlaced:
    order_id: str
    customer_id: str
    currency_code: str
    amount_minor: int
    time: datetime


@dataclass(frozen=True)
class OrderCancelled:
    order_id: str
    customer_id: str


@dataclass(frozen=True)
class CustomerNamed:
    """A user event carrying the customer's current display name."""

    customer_id: str
    display_name: str


Fact = OrderPlaced | OrderCancelled | CustomerNamed


@dataclass(frozen=True)
class OrderTotal:
    """What the model remembers of an order, so a cancellation can take it back."""

    order_id: str
    customer_id: str
    currency_code: str
    amount_minor: int
    cancelled: bool = False


@dataclass(frozen=True)
class CustomerSummary:
    customer_id: str
    display_name: str = ""
    orders_placed: int = 0
    orders_cancelled: int = 0
    # Orders not cancelled, added up per currency, in minor units.
    spent: dict[str, int] = field(default_factory=dict)
    last_order_time: datetime | None = None


def apply(
    summary: CustomerSummary, order: OrderTotal | None, fact: Fact
) -> tuple[CustomerSummary, OrderTotal | None]:
    """The summary and the order's record after `fact`.

    `order` is what the model remembers of the fact's order (None for a user
    fact, or an order it has not seen). Facts of one order normally arrive in
    order; a cancellation retried ahead of its placement still ends in the
    same model: it leaves a cancelled record, and the placement then counts
    without adding to what was spent.
    """
    if isinstance(fact, CustomerNamed):
        return replace(summary, display_name=fact.display_name), order
    if isinstance(fact, OrderPlaced):
        return _placed(summary, order, fact)
    return _cancelled(summary, order, fact)


def _placed(
    summary: CustomerSummary, order: OrderTotal | None, fact: OrderPlaced
) -> tuple[CustomerSummary, OrderTotal]:
    if order is not None and not order.cancelled:
        return summary, order  # placed once already: nothing new
    # Cancelled before we saw it placed: it counts, but nothing was spent.
    early_cancel = order is not None
    spent = summary.spent
    if not early_cancel:
        spent = dict(spent)
        spent[fact.currency_code] = spent.get(fact.currency_code, 0) + fact.amount_minor
    latest = summary.last_order_time
    counted = CustomerSummary(
        summary.customer_id,
        summary.display_name,
        summary.orders_placed + 1,
        summary.orders_cancelled,
        spent,
        fact.time if latest is None or fact.time > latest else latest,
    )
    record = OrderTotal(
        fact.order_id, fact.customer_id, fact.currency_code, fact.amount_minor, early_cancel
    )
    return counted, record


def _cancelled(
    summary: CustomerSummary, order: OrderTotal | None, fact: OrderCancelled
) -> tuple[CustomerSummary, OrderTotal]:
    if order is not None and order.cancelled:
        return summary, order  # cancelled once already
    counted = replace(summary, orders_cancelled=summary.orders_cancelled + 1)
    if order is None:  # not placed yet as far as we know: remember the cancellation
        return counted, OrderTotal(fact.order_id, fact.customer_id, "", 0, cancelled=True)
    spent = dict(summary.spent)
    spent[order.currency_code] = spent.get(order.currency_code, 0) - order.amount_minor
    return replace(counted, spent=spent), replace(order, cancelled=True)


def order_id_of(fact: Fact) -> str | None:
    return None if isinstance(fact, CustomerNamed) else fact.order_id
