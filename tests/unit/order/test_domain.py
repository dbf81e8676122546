"""The order aggregate: money, totals, the state machine and versions."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from protomesh.errors import InvalidArgument
from services.order.domain import (
    INT64_MAX,
    IllegalTransition,
    LineItem,
    Money,
    Order,
    OrderCancelled,
    PaymentAuthorization,
    Status,
    Unpaid,
    total_of,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def line(price: int, quantity: int = 1, currency: str = "EUR") -> LineItem:
    return LineItem("SKU-1", quantity, Money(currency, price))


def paid(amount: int) -> PaymentAuthorization:
    return PaymentAuthorization("hold-1", Money("EUR", amount))


def placed() -> Order:
    order, _ = Order.place(
        customer_id=uuid.uuid4(), items=[line(250, 2), line(100)], payment=paid(600), now=NOW
    )
    return order


def test_placing_totals_the_lines_and_starts_pending_at_version_1() -> None:
    customer = uuid.uuid4()
    order, event = Order.place(
        customer_id=customer, items=[line(250, 2), line(100)], payment=paid(600), now=NOW
    )
    assert order.total == Money("EUR", 600)
    assert order.payment == paid(600)
    assert (order.status, order.version) == (Status.PENDING, 1)
    assert (event.order_id, event.customer_id, event.total) == (order.id, customer, order.total)


def test_an_order_is_placed_only_on_a_hold_of_its_exact_total() -> None:
    with pytest.raises(ValueError, match="holds"):
        Order.place(customer_id=uuid.uuid4(), items=[line(600)], payment=paid(599), now=NOW)


def test_an_order_without_a_payment_cannot_be_confirmed() -> None:
    unpaid = dataclasses.replace(placed(), payment=None)
    with pytest.raises(Unpaid) as raised:
        unpaid.confirm(NOW)
    assert raised.value.kind == "PAYMENT_MISSING"
    assert placed().confirm(NOW).status == Status.CONFIRMED


def test_an_unknown_currency_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        Money("XXX", 1)


def test_mixed_currencies_and_empty_orders_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        total_of([line(1), line(1, currency="USD")])
    with pytest.raises(InvalidArgument):
        total_of([])


def test_a_total_beyond_int64_is_refused() -> None:
    assert total_of([line(INT64_MAX)]).amount_minor == INT64_MAX
    with pytest.raises(InvalidArgument) as raised:
        total_of([line(INT64_MAX), line(1)])
    assert [v.description for v in raised.value.violations] == ["the order total is too large"]


def test_the_happy_path_bumps_the_version_each_step() -> None:
    shipped = placed().confirm(NOW).ship(NOW)
    assert (shipped.status, shipped.version) == (Status.SHIPPED, 3)


@pytest.mark.parametrize("steps", [[], ["confirm"]])
def test_any_order_not_shipped_can_be_cancelled(steps: list[str]) -> None:
    order = placed()
    for step in steps:
        order = getattr(order, step)(NOW)
    cancelled, event = order.cancel("changed my mind", NOW)
    assert cancelled.status == Status.CANCELLED
    assert cancelled.version == order.version + 1
    assert event == OrderCancelled(
        order.id, order.customer_id, "changed my mind", NOW, version=cancelled.version
    )


def test_shipped_and_cancelled_orders_are_final() -> None:
    shipped = placed().confirm(NOW).ship(NOW)
    with pytest.raises(IllegalTransition, match=r"is SHIPPED and cannot be cancelled$"):
        shipped.cancel("", NOW)
    cancelled, _ = placed().cancel("", NOW)
    with pytest.raises(IllegalTransition, match=r"is already CANCELLED$"):
        cancelled.cancel("", NOW)
    with pytest.raises(IllegalTransition, match=r"is CANCELLED and cannot be confirmed$"):
        cancelled.confirm(NOW)


def test_a_pending_order_cannot_ship_before_confirmation() -> None:
    with pytest.raises(IllegalTransition) as raised:
        placed().ship(NOW)
    assert (raised.value.current, raised.value.wanted) == (Status.PENDING, Status.SHIPPED)
    assert raised.value.kind == "ORDER_STATUS"
