"""The order service verifies every consumer contract in which it is the provider
(today: the user service's order counts, fed by OrderPlaced and OrderCancelled)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from shop.order.v1 import order_pb2 as v1
from shop.order.v1 import order_pb2_grpc as v1_grpc
from shop.user.v1 import user_pb2 as user_v1
from shop.user.v1 import user_pb2_grpc as user_v1_grpc

from tests.support import mesh_tls
from tests.support.order_service import order_service, schema_of
from tests.support.postgres import Postgres
from tests.support.provider_verification import last_outbox_event, verify_live, verify_statically
from tests.support.service import ServiceProcess, user_service

PROVIDER = "order"


def test_order_keeps_every_method_event_and_field_its_consumers_rely_on() -> None:
    assert verify_statically(PROVIDER) == []


@pytest.fixture(scope="module")
def users(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    running = user_service(postgres, tmp_path_factory.mktemp("provider-order-users"))
    running.start()
    yield running
    running.kill()


@pytest.fixture(scope="module")
def orders(
    postgres: Postgres, users: ServiceProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    running = order_service(postgres, tmp_path_factory.mktemp("provider-order"), users.port)
    running.start()
    yield running
    running.kill()


@pytest.mark.integration
async def test_the_running_order_service_emits_what_its_consumers_read(
    users: ServiceProcess, orders: ServiceProcess, postgres: Postgres
) -> None:
    async def place() -> str:
        async with mesh_tls.aio_channel(users.address) as channel:
            customer = await user_v1_grpc.UserServiceStub(channel).CreateUser(
                user_v1.CreateUserRequest(
                    email=f"{uuid.uuid4().hex}@example.com", display_name="C"
                ),
                timeout=5,
            )
        item = v1.LineItem(
            sku="BOOK-1", quantity=1, unit_price=v1.Money(currency_code="EUR", amount_minor=1250)
        )
        async with mesh_tls.aio_channel(orders.address, "operator") as channel:
            placed = await v1_grpc.OrderServiceStub(channel).PlaceOrder(
                v1.PlaceOrderRequest(customer_id=customer.user.user_id, items=[item]), timeout=5
            )
        return placed.order.order_id

    async def placed() -> tuple[str, bytes]:
        return await last_outbox_event(postgres, schema_of(orders), await place())

    async def cancelled() -> tuple[str, bytes]:
        order_id = await place()
        async with mesh_tls.aio_channel(orders.address, "operator") as channel:
            await v1_grpc.OrderServiceStub(channel).CancelOrder(
                v1.CancelOrderRequest(order_id=order_id, reason="contract test"), timeout=5
            )
        return await last_outbox_event(postgres, schema_of(orders), order_id)

    producers = {
        "shop.order.events.v1.OrderPlaced": placed,
        "shop.order.events.v1.OrderCancelled": cancelled,
    }
    found = await verify_live(PROVIDER, orders.address, states={}, producers=producers)
    assert found == [], "\n".join(map(str, found))
