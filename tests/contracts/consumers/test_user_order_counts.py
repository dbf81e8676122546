"""The user service as a consumer of the order context's events (orders per customer);
records contracts/user/order-events.json through the real handler and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf import timestamp_pb2
from shop.order.events.v1 import events_pb2
from shop.order.v1 import order_pb2

import services.user
from services.user.order_counts import OrderCount, OrderCountProjection
from tests.support.consumers import schema_pool
from tests.support.contract_recording import EventRecorder, settle
from tests.support.postgres import Postgres

pytestmark = pytest.mark.integration
COUNTS_DDL = (
    Path(services.user.__file__).parent / "migrations" / "010_create_customer_order_counts.sql"
)
# Fixed values: the recorded file must not change from one run to the next.
CUSTOMER = uuid.UUID("00000000-0000-4000-8000-0000000000c2")
ORDER = "00000000-0000-4000-8000-0000000000a1"


def at(text: str) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.fromisoformat(text).replace(tzinfo=UTC))
    return stamp


async def test_user_records_what_it_relies_on_in_order_events(postgres: Postgres) -> None:
    async with schema_pool(postgres, COUNTS_DDL.read_text()) as pool:
        counts = OrderCountProjection(pool)
        recorder = EventRecorder(counts.handle)
        price = order_pb2.Money(currency_code="EUR", amount_minor=1250)

        placed = events_pb2.OrderPlaced(
            order_id=ORDER,
            customer_id=str(CUSTOMER),
            items=[order_pb2.LineItem(sku="BOOK-1", quantity=1, unit_price=price)],
            total=price,
            occur_time=at("2026-01-01T10:00:00"),
        )
        outcome = await recorder.deliver(
            placed,
            name="a customer places an order",
            effect="the customer's placed count goes up by one",
            subject="order.events.order",
        )
        assert outcome == "handled"
        assert await counts.count_for(CUSTOMER) == OrderCount(placed=1, cancelled=0)

        cancelled = events_pb2.OrderCancelled(
            order_id=ORDER,
            customer_id=str(CUSTOMER),
            reason="changed my mind",
            occur_time=at("2026-01-02T10:00:00"),
        )
        outcome = await recorder.deliver(
            cancelled,
            name="a customer cancels an order",
            effect="the customer's cancelled count goes up by one",
            subject="order.events.order",
        )
        assert outcome == "handled"
        assert await counts.count_for(CUSTOMER) == OrderCount(placed=1, cancelled=1)

    settle(recorder.contract("user", "order", recorded_by=__name__))
