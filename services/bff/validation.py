"""The request constraints of shop.bff.web.v1, checked before any handler runs."""

from __future__ import annotations

import uuid

from shop.bff.web.v1 import web_bff_pb2 as web

from protomesh.errors import FieldViolation
from protomesh.interceptors.validation import Validator
from services.bff.domain import MAX_RECENT_ORDERS


def get_dashboard(request: web.GetDashboardRequest) -> list[FieldViolation]:
    if not 0 <= request.recent_orders_limit <= MAX_RECENT_ORDERS:
        return [FieldViolation("recent_orders_limit", f"must be between 0 and {MAX_RECENT_ORDERS}")]
    return []


def get_order_page(request: web.GetOrderPageRequest) -> list[FieldViolation]:
    if not request.order_id:
        return [FieldViolation("order_id", "required")]
    try:
        uuid.UUID(request.order_id[:64])
    except ValueError:
        return [FieldViolation("order_id", "not a UUID")]
    return []


VALIDATORS: dict[str, Validator] = {
    "/shop.bff.web.v1.WebBffService/GetDashboard": get_dashboard,
    "/shop.bff.web.v1.WebBffService/GetOrderPage": get_order_page,
}
