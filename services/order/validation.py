"""The request constraints of shop.order.v1, enforced in one place.

Each rule is the one written as "Constraints:" beside the field in
order.proto. Validators return every violation at once; the runtime's
ValidationInterceptor runs them before any handler, so a bad request writes
nothing.
"""

from __future__ import annotations

import re
import unicodedata
import uuid

from shop.order.v1 import order_pb2 as v1

from protomesh.errors import FieldViolation
from protomesh.interceptors.validation import Validator
from services.order.domain import CURRENCIES, INT64_MAX

MAX_ITEMS = 100
MAX_QUANTITY = 1000
MAX_PAGE_SIZE = 100
MAX_REASON = 500
MAX_PAGE_TOKEN = 512
_SKU = re.compile(r"[A-Z0-9-]{1,64}")


def _uuid(value: str, field: str) -> list[FieldViolation]:
    if not value:
        return [FieldViolation(field, "required")]
    if len(value) > 36:
        return [FieldViolation(field, "at most 36 characters")]
    try:
        uuid.UUID(value)
    except ValueError:
        return [FieldViolation(field, "not a UUID")]
    return []


def _money(money: v1.Money, field: str) -> list[FieldViolation]:
    violations = []
    if money.currency_code not in CURRENCIES:
        accepted = ", ".join(sorted(CURRENCIES))
        violations.append(
            FieldViolation(f"{field}.currency_code", f"not a currency we accept ({accepted})")
        )
    if money.amount_minor < 0:
        violations.append(FieldViolation(f"{field}.amount_minor", "must be 0 or more"))
    return violations


def _line(item: v1.LineItem, field: str) -> list[FieldViolation]:
    violations = []
    if not _SKU.fullmatch(item.sku):
        violations.append(FieldViolation(f"{field}.sku", "1 to 64 characters of A-Z, 0-9, '-'"))
    if not 1 <= item.quantity <= MAX_QUANTITY:
        violations.append(FieldViolation(f"{field}.quantity", f"must be 1 to {MAX_QUANTITY}"))
    if not item.HasField("unit_price"):
        violations.append(FieldViolation(f"{field}.unit_price", "required"))
    else:
        violations += _money(item.unit_price, f"{field}.unit_price")
    return violations


def _total(items: list[v1.LineItem]) -> list[FieldViolation]:
    """One currency per order, and a total that fits int64 (checked on valid lines only)."""
    currencies = {item.unit_price.currency_code for item in items}
    if len(currencies) > 1:
        return [FieldViolation("items", "every line must use the same currency")]
    total = sum(item.quantity * item.unit_price.amount_minor for item in items)
    if total > INT64_MAX:
        return [FieldViolation("items", "the order total exceeds the largest amount (int64)")]
    return []


def place_order(request: v1.PlaceOrderRequest) -> list[FieldViolation]:
    violations = _uuid(request.customer_id, "customer_id")
    if not request.items:
        return [*violations, FieldViolation("items", "an order needs at least one line")]
    if len(request.items) > MAX_ITEMS:
        return [*violations, FieldViolation("items", f"at most {MAX_ITEMS} lines")]
    lines = [v for index, item in enumerate(request.items) for v in _line(item, f"items[{index}]")]
    return [*violations, *lines, *([] if lines else _total(list(request.items)))]


def list_orders(request: v1.ListOrdersRequest) -> list[FieldViolation]:
    violations = _uuid(request.customer_id, "customer_id")
    if not 0 <= request.page_size <= MAX_PAGE_SIZE:
        violations.append(FieldViolation("page_size", f"must be between 0 and {MAX_PAGE_SIZE}"))
    if len(request.page_token) > MAX_PAGE_TOKEN:
        violations.append(FieldViolation("page_token", "not a page token issued by this API"))
    if request.status not in v1.OrderStatus.values():
        violations.append(FieldViolation("status", f"unknown value {request.status}"))
    return violations


def cancel_order(request: v1.CancelOrderRequest) -> list[FieldViolation]:
    violations = _uuid(request.order_id, "order_id")
    if len(request.reason) > MAX_REASON:
        violations.append(FieldViolation("reason", f"at most {MAX_REASON} characters"))
    elif any(unicodedata.category(ch) in ("Cc", "Cf") for ch in request.reason):
        violations.append(FieldViolation("reason", "must not contain control characters"))
    return violations


VALIDATORS: dict[str, Validator] = {
    "/shop.order.v1.OrderService/PlaceOrder": place_order,
    "/shop.order.v1.OrderService/GetOrder": lambda r: _uuid(r.order_id, "order_id"),
    "/shop.order.v1.OrderService/ListOrders": list_orders,
    "/shop.order.v1.OrderService/CancelOrder": cancel_order,
}
