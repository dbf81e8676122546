"""Domain orders ↔ shop.order.v1 messages and shop.order.events.v1 events.

The only place that knows both shapes. Requests reach here validated (the
validation interceptor ran first), so parsing cannot fail.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from shop.order.events.v1 import events_pb2
from shop.order.v1 import order_pb2 as v1

from services.order.domain import (
    Event,
    LineItem,
    Money,
    Order,
    OrderCancelled,
    OrderPlaced,
    Status,
)

_STATUS: dict[Status, v1.OrderStatus.ValueType] = {
    Status.PENDING: v1.ORDER_STATUS_PENDING,
    Status.CONFIRMED: v1.ORDER_STATUS_CONFIRMED,
    Status.SHIPPED: v1.ORDER_STATUS_SHIPPED,
    Status.CANCELLED: v1.ORDER_STATUS_CANCELLED,
}


def status_from(value: v1.OrderStatus.ValueType) -> Status | None:
    """A filter: UNSPECIFIED means any status."""
    return next((status for status, wire in _STATUS.items() if wire == value), None)


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def parse_id(text: str) -> uuid.UUID:
    return uuid.UUID(text)


def money_from(message: v1.Money) -> Money:
    return Money(message.currency_code, message.amount_minor)


def items_from(messages: list[v1.LineItem]) -> list[LineItem]:
    return [LineItem(m.sku, m.quantity, money_from(m.unit_price)) for m in messages]


def to_money(money: Money) -> v1.Money:
    return v1.Money(currency_code=money.currency, amount_minor=money.amount_minor)


def to_items(items: tuple[LineItem, ...]) -> list[v1.LineItem]:
    return [
        v1.LineItem(sku=i.sku, quantity=i.quantity, unit_price=to_money(i.unit_price))
        for i in items
    ]


def to_order(order: Order) -> v1.Order:
    return v1.Order(
        order_id=str(order.id),
        customer_id=str(order.customer_id),
        items=to_items(order.items),
        total=to_money(order.total),
        status=_STATUS[order.status],
        create_time=timestamp(order.created_at),
        update_time=timestamp(order.updated_at),
    )


def to_event(event: Event) -> Message:
    """The published form of a domain event (shop.order.events.v1)."""
    match event:
        case OrderPlaced():
            return events_pb2.OrderPlaced(
                order_id=str(event.order_id),
                customer_id=str(event.customer_id),
                items=to_items(event.items),
                total=to_money(event.total),
                occur_time=timestamp(event.at),
            )
        case OrderCancelled():
            return events_pb2.OrderCancelled(
                order_id=str(event.order_id),
                customer_id=str(event.customer_id),
                reason=event.reason,
                occur_time=timestamp(event.at),
            )
