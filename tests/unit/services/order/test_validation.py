"""shop.order.v1 request constraints: every violation named by its field."""

from __future__ import annotations

import uuid

from shop.order.v1 import order_pb2 as v1

from protomesh.errors import FieldViolation
from services.order.domain import INT64_MAX
from services.order.validation import VALIDATORS, cancel_order, list_orders, place_order

CUSTOMER = str(uuid.uuid4())


def item(
    sku: str = "SKU-1", quantity: int = 1, amount: int = 100, currency: str = "EUR"
) -> v1.LineItem:
    return v1.LineItem(
        sku=sku, quantity=quantity, unit_price=v1.Money(currency_code=currency, amount_minor=amount)
    )


def fields(violations: list[FieldViolation]) -> list[str]:
    return [v.field for v in violations]


def test_a_good_order_passes() -> None:
    assert (
        place_order(v1.PlaceOrderRequest(customer_id=CUSTOMER, items=[item(), item("B", 3)])) == []
    )


def test_empty_items_and_a_bad_customer_are_both_reported() -> None:
    violations = place_order(v1.PlaceOrderRequest(customer_id="nope"))
    assert fields(violations) == ["customer_id", "items"]


def test_each_bad_line_field_is_named_by_its_path() -> None:
    request = v1.PlaceOrderRequest(
        customer_id=CUSTOMER,
        items=[
            item(quantity=0),
            item(quantity=-3, sku="lower case"),
            item(currency="XXX", amount=-1),
            v1.LineItem(sku="A", quantity=1),
        ],
    )
    assert fields(place_order(request)) == [
        "items[0].quantity",
        "items[1].sku",
        "items[1].quantity",
        "items[2].unit_price.currency_code",
        "items[2].unit_price.amount_minor",
        "items[3].unit_price",
    ]


def test_an_over_long_sku_and_too_many_lines_are_refused() -> None:
    assert fields(
        place_order(v1.PlaceOrderRequest(customer_id=CUSTOMER, items=[item("A" * 65)]))
    ) == ["items[0].sku"]
    many = v1.PlaceOrderRequest(customer_id=CUSTOMER, items=[item()] * 101)
    assert fields(place_order(many)) == ["items"]


def test_an_overflowing_total_and_mixed_currencies_are_refused() -> None:
    overflow = v1.PlaceOrderRequest(
        customer_id=CUSTOMER, items=[item(amount=INT64_MAX, quantity=2)]
    )
    assert fields(place_order(overflow)) == ["items"]
    mixed = v1.PlaceOrderRequest(customer_id=CUSTOMER, items=[item(), item(currency="USD")])
    assert fields(place_order(mixed)) == ["items"]


def test_list_rejects_unknown_status_values_and_big_pages() -> None:
    request = v1.ListOrdersRequest(customer_id=CUSTOMER, page_size=101, status=9)  # type: ignore[arg-type]
    assert fields(list_orders(request)) == ["page_size", "status"]
    assert (
        list_orders(v1.ListOrdersRequest(customer_id=CUSTOMER, status=v1.ORDER_STATUS_SHIPPED))
        == []
    )


def test_cancel_limits_the_reason() -> None:
    order_id = str(uuid.uuid4())
    assert cancel_order(v1.CancelOrderRequest(order_id=order_id, reason="x" * 500)) == []
    assert fields(cancel_order(v1.CancelOrderRequest(order_id=order_id, reason="x" * 501))) == [
        "reason"
    ]
    assert fields(cancel_order(v1.CancelOrderRequest(order_id=order_id, reason="a\x00b"))) == [
        "reason"
    ]


def test_every_rpc_has_a_validator() -> None:
    names = {m.name for m in v1.DESCRIPTOR.services_by_name["OrderService"].methods}
    assert set(VALIDATORS) == {f"/shop.order.v1.OrderService/{n}" for n in names}
    assert fields(VALIDATORS["/shop.order.v1.OrderService/GetOrder"](v1.GetOrderRequest())) == [
        "order_id"
    ]
