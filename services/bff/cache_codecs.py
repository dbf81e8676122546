"""How the BFF's cached values travel through the shared tier: small JSON documents.

JSON rather than pickle: another replica (perhaps of a newer version) reads
them, and a document it cannot read is a miss, never code to run.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from protomesh.cache import Codec
from services.bff.domain import Money, OrderDetail, OrderHistory, OrderLine, OrderSummary, Profile


def _money(value: dict[str, Any]) -> Money:
    return Money(str(value["currency_code"]), int(value["amount_minor"]))


def _dump_money(money: Money) -> dict[str, Any]:
    return {"currency_code": money.currency_code, "amount_minor": money.amount_minor}


def _encode_profile(profile: Profile) -> bytes:
    return json.dumps(
        {"user_id": profile.user_id, "email": profile.email, "name": profile.display_name}
    ).encode()


def _decode_profile(raw: bytes) -> Profile:
    value = json.loads(raw)
    return Profile(str(value["user_id"]), str(value["email"]), str(value["name"]))


def _encode_history(history: OrderHistory) -> bytes:
    recent = [
        {
            "order_id": order.order_id,
            "status": order.status,
            "total": _dump_money(order.total),
            "item_count": order.item_count,
            "created_at": order.created_at.isoformat(),
        }
        for order in history.recent
    ]
    return json.dumps({"recent": recent, "count": history.count, "capped": history.capped}).encode()


def _decode_history(raw: bytes) -> OrderHistory:
    value = json.loads(raw)
    recent = tuple(
        OrderSummary(
            order_id=str(order["order_id"]),
            status=str(order["status"]),
            total=_money(order["total"]),
            item_count=int(order["item_count"]),
            created_at=datetime.fromisoformat(order["created_at"]),
        )
        for order in value["recent"]
    )
    return OrderHistory(recent, int(value["count"]), bool(value["capped"]))


def _encode_detail(order: OrderDetail) -> bytes:
    return json.dumps(
        {
            "order_id": order.order_id,
            "customer_id": order.customer_id,
            "status": order.status,
            "lines": [
                {"sku": line.sku, "quantity": line.quantity, "price": _dump_money(line.unit_price)}
                for line in order.lines
            ],
            "total": _dump_money(order.total),
            "created_at": order.created_at.isoformat(),
            "updated_at": order.updated_at.isoformat(),
        }
    ).encode()


def _decode_detail(raw: bytes) -> OrderDetail:
    value = json.loads(raw)
    return OrderDetail(
        order_id=str(value["order_id"]),
        customer_id=str(value["customer_id"]),
        status=str(value["status"]),
        lines=tuple(
            OrderLine(str(line["sku"]), int(line["quantity"]), _money(line["price"]))
            for line in value["lines"]
        ),
        total=_money(value["total"]),
        created_at=datetime.fromisoformat(value["created_at"]),
        updated_at=datetime.fromisoformat(value["updated_at"]),
    )


PROFILE = Codec(_encode_profile, _decode_profile)
HISTORY = Codec(_encode_history, _decode_history)
ORDER = Codec(_encode_detail, _decode_detail)
