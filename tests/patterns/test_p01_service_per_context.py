"""Pattern 1: a service per bounded context, on the real user and order services.

Proven here: user and order are separate processes with their own health,
configuration prefix and database schema; stopping and restarting one leaves
the other serving (the order service reads its own data while the user
service is down, and answers UNAVAILABLE only for what needs the user
service), and the restarted one serves again with its data intact. That
the packages never import each other (only generated contracts) is an
import-linter contract (tests/test_architecture.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from shop.order.v1 import order_pb2 as v1
from shop.order.v1 import order_pb2_grpc as v1_grpc
from shop.user.v1 import user_pb2 as user_v1
from shop.user.v1 import user_pb2_grpc as user_v1_grpc

from tests.support import mesh_tls
from tests.support.order_service import running_user_and_order
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def services(postgres: Postgres, tmp_path: Path) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    with running_user_and_order(postgres, tmp_path) as services:
        yield services


def place(customer: str) -> v1.PlaceOrderRequest:
    price = v1.Money(currency_code="EUR", amount_minor=500)
    return v1.PlaceOrderRequest(
        customer_id=customer, items=[v1.LineItem(sku="BOOK", quantity=1, unit_price=price)]
    )


async def place_when_users_answer(
    stub: v1_grpc.OrderServiceAsyncStub, customer: str, attempts: int = 20
) -> v1.PlaceOrderResponse:
    """PlaceOrder, retried on UNAVAILABLE (as its RetryInfo invites) while the
    order service's channel reconnects to the restarted user service."""
    for _ in range(attempts - 1):
        try:
            return await stub.PlaceOrder(place(customer), timeout=5)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            await asyncio.sleep(0.5)
    return await stub.PlaceOrder(place(customer), timeout=5)


async def test_each_context_runs_alone_and_survives_the_others_restart(
    services: tuple[ServiceProcess, ServiceProcess],
) -> None:
    users, orders = services
    assert users.process is not None
    assert orders.process is not None
    assert users.process.pid != orders.process.pid
    assert (users.health(), orders.health()) == ("SERVING", "SERVING")
    assert users.env["USER_SERVICE_DATABASE_SCHEMA"] != orders.env["ORDER_SERVICE_DATABASE_SCHEMA"]

    async with (
        mesh_tls.aio_channel(users.address) as user_channel,
        mesh_tls.aio_channel(orders.address) as order_channel,
    ):
        user_stub = user_v1_grpc.UserServiceStub(user_channel)
        order_stub = v1_grpc.OrderServiceStub(order_channel)
        created = await user_stub.CreateUser(
            user_v1.CreateUserRequest(email=f"{uuid.uuid4().hex}@example.com", display_name="P"),
            timeout=5,
        )
        customer = created.user.user_id
        placed = await order_stub.PlaceOrder(place(customer), timeout=5)
        order_id = placed.order.order_id

        assert users.terminate() == 0
        read = await order_stub.GetOrder(v1.GetOrderRequest(order_id=order_id), timeout=5)
        assert read.order == placed.order
        assert orders.health() == "SERVING"
        with pytest.raises(grpc.aio.AioRpcError) as needs_users:
            await order_stub.PlaceOrder(place(customer), timeout=5)
        assert needs_users.value.code() == grpc.StatusCode.UNAVAILABLE

        users.start()
        again = await place_when_users_answer(order_stub, customer)
        assert again.order.customer_id == customer

        assert orders.terminate() == 0
        still = await user_stub.GetUser(user_v1.GetUserRequest(user_id=customer), timeout=5)
        assert still.user.user_id == customer
        assert users.health() == "SERVING"

        orders.start()
        listed = await order_stub.ListOrders(
            v1.ListOrdersRequest(customer_id=customer), wait_for_ready=True, timeout=10
        )
        assert {o.order_id for o in listed.orders} == {order_id, again.order.order_id}
