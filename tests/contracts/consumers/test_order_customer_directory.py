"""The order service as a consumer of the user context's events (its copy of customers);
records contracts/order/user-events.json through the real handler and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf import timestamp_pb2
from shop.user.events.v1 import events_pb2

import services.order
from services.order.customer_directory import CustomerDirectoryHandler
from services.order.customer_store import PostgresCustomerDirectory
from tests.support.consumers import schema_pool
from tests.support.contract_recording import EventRecorder, settle
from tests.support.postgres import Postgres

pytestmark = pytest.mark.integration
DIRECTORY_DDL = (
    Path(services.order.__file__).parent / "migrations" / "010_create_customer_directory.sql"
)
# Fixed values: the recorded file must not change from one run to the next.
CUSTOMER = uuid.UUID("00000000-0000-4000-8000-0000000000c1")


def at(text: str) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.fromisoformat(text).replace(tzinfo=UTC))
    return stamp


async def test_order_records_what_it_relies_on_in_user_events(postgres: Postgres) -> None:
    async with schema_pool(postgres, DIRECTORY_DDL.read_text()) as pool:
        directory = PostgresCustomerDirectory(pool)
        recorder = EventRecorder(CustomerDirectoryHandler(directory).handle)

        registered = events_pb2.UserRegistered(
            user_id=str(CUSTOMER),
            email="ada@example.com",
            display_name="Ada",
            occur_time=at("2026-01-01T10:00:00"),
        )
        outcome = await recorder.deliver(
            registered,
            name="a user registers",
            effect="the customer copy holds the user's id, display_name and email",
            subject="user.events.user",
        )
        customer = await directory.get(CUSTOMER)
        assert outcome == "handled"
        assert customer is not None
        assert (customer.display_name, customer.email) == ("Ada", "ada@example.com")

        changed = events_pb2.UserProfileChanged(
            user_id=str(CUSTOMER),
            email="ada@lovelace.example",
            display_name="Ada Lovelace",
            email_verified=True,
            occur_time=at("2026-01-02T10:00:00"),
        )
        outcome = await recorder.deliver(
            changed,
            name="a user changes their profile",
            effect="the customer copy takes the newer display_name and email",
            subject="user.events.user",
        )
        customer = await directory.get(CUSTOMER)
        assert outcome == "handled"
        assert customer is not None
        assert (customer.display_name, customer.email) == ("Ada Lovelace", "ada@lovelace.example")

    settle(recorder.contract("order", "user", recorded_by=__name__))
