"""The customer check: the order context's copy first, the user service only on a miss."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from protomesh.errors import Unavailable
from services.order.customer_check import CopyFirstCustomers
from services.order.customer_directory import Customer
from tests.unit.services.order.fakes import FakeCustomers, InMemoryCustomerCopy

KNOWN = uuid.uuid4()  # registered, and its UserRegistered reached the copy
JUST_SIGNED_UP = uuid.uuid4()  # registered a moment ago: the user service knows, the copy not yet
STRANGER = uuid.uuid4()


@pytest.fixture
def copy() -> InMemoryCustomerCopy:
    copy = InMemoryCustomerCopy()
    copy.customers[KNOWN] = Customer(KNOWN, "Ada", "ada@example.com", datetime.now(UTC))
    return copy


@pytest.fixture
def owner() -> FakeCustomers:
    return FakeCustomers(KNOWN, JUST_SIGNED_UP)


async def test_a_customer_in_the_copy_exists_without_asking_the_user_service(
    copy: InMemoryCustomerCopy, owner: FakeCustomers
) -> None:
    assert await CopyFirstCustomers(copy, owner).exists(KNOWN) is True
    assert owner.asked == []


async def test_a_miss_in_the_copy_asks_the_user_service(
    copy: InMemoryCustomerCopy, owner: FakeCustomers
) -> None:
    check = CopyFirstCustomers(copy, owner)
    assert await check.exists(JUST_SIGNED_UP) is True
    assert await check.exists(STRANGER) is False
    assert owner.asked == [JUST_SIGNED_UP, STRANGER]


async def test_with_the_user_service_down_a_known_customer_still_exists(
    copy: InMemoryCustomerCopy, owner: FakeCustomers
) -> None:
    owner.down = True
    assert await CopyFirstCustomers(copy, owner).exists(KNOWN) is True


async def test_with_the_user_service_down_an_unknown_customer_is_unavailable_not_unknown(
    copy: InMemoryCustomerCopy, owner: FakeCustomers
) -> None:
    owner.down = True
    with pytest.raises(Unavailable):
        await CopyFirstCustomers(copy, owner).exists(JUST_SIGNED_UP)
