"""Which field makes a request's bytes undecodable (protomesh.undecodable)."""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError
from shop.order.v1 import order_pb2
from shop.user.v1 import user_pb2

from protomesh.errors import FieldViolation
from protomesh.undecodable import violation

PLACE = order_pb2.PlaceOrderRequest


def with_bad_sku() -> bytes:
    """A PlaceOrderRequest whose second item's sku is not UTF-8 (protobuf refuses to make one)."""
    good = PLACE(customer_id="c", items=[order_pb2.LineItem(sku="A"), order_pb2.LineItem(sku="B")])
    data = good.SerializeToString()
    return data.replace(b"\x0a\x01B", b"\x0a\x01\xff")


@pytest.mark.parametrize(
    ("message", "data", "expected"),
    [
        (
            user_pb2.GetUserRequest,
            b"\x0a\x02\xff\xfe",
            FieldViolation("user_id", "is not valid UTF-8"),
        ),
        (user_pb2.GetUserRequest, b"\x0a\x09ab", FieldViolation("user_id", "is cut short")),
        (
            user_pb2.GetUserRequest,
            b"\x0b",
            FieldViolation("user_id", "is not a valid encoding of this field"),
        ),
        (PLACE, with_bad_sku(), FieldViolation("items.sku", "is not valid UTF-8")),
        (
            user_pb2.GetUserRequest,
            b"\xff\xff\xff",
            FieldViolation("", "is not a valid shop.user.v1.GetUserRequest message"),
        ),
    ],
)
def test_the_field_to_blame_is_named(message: type, data: bytes, expected: FieldViolation) -> None:
    with pytest.raises(DecodeError):
        message.FromString(data)  # type: ignore[attr-defined]
    assert violation(message.DESCRIPTOR, data) == expected  # type: ignore[attr-defined]
