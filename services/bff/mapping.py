"""Domain screens → shop.bff.web.v1 messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp
from shop.bff.web.v1 import web_bff_pb2 as web

from services.bff.domain import Dashboard, Degraded, Money, OrderPage, OrderSummary


def _money(money: Money) -> web.Money:
    return web.Money(currency_code=money.currency_code, amount_minor=money.amount_minor)


def _time(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _degraded(parts: tuple[Degraded, ...]) -> list[web.DegradedPart]:
    return [web.DegradedPart(part=part.part, reason=part.reason) for part in parts]


def _summary(order: OrderSummary) -> web.OrderSummary:
    return web.OrderSummary(
        order_id=order.order_id,
        status=order.status,
        total=_money(order.total),
        item_count=order.item_count,
        create_time=_time(order.created_at),
    )


def to_dashboard(dashboard: Dashboard) -> web.GetDashboardResponse:
    profile = dashboard.profile
    return web.GetDashboardResponse(
        profile=web.Profile(
            user_id=profile.user_id, email=profile.email, display_name=profile.display_name
        ),
        recent_orders=[_summary(order) for order in dashboard.recent],
        order_count=dashboard.order_count,
        order_count_capped=dashboard.order_count_capped,
        degraded=_degraded(dashboard.degraded),
    )


def to_order_page(page: OrderPage) -> web.GetOrderPageResponse:
    order = page.order
    return web.GetOrderPageResponse(
        order_id=order.order_id,
        status=order.status,
        lines=[
            web.OrderLine(sku=line.sku, quantity=line.quantity, unit_price=_money(line.unit_price))
            for line in order.lines
        ],
        total=_money(order.total),
        create_time=_time(order.created_at),
        update_time=_time(order.updated_at),
        customer_display_name=page.display_name,
        degraded=_degraded(page.degraded),
    )
