"""The web BFF as a consumer of the user and order services; records
contracts/bff/user-rpc.json and contracts/bff/order-rpc.json.

The real `UserBackend` and `OrderBackend` talk over real channels to stand-in user and
order services, as a Pact consumer test talks to a mock provider; the recorder on each
channel writes down what bff sends (with the end user it forwards to order as
`x-jwt-sub`), what it reads and which status codes it relies on.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from shop.order.v1 import order_pb2 as order_v1
from shop.user.v1 import user_pb2 as user_v1

from protomesh.edge_auth import SUBJECT_METADATA
from protomesh.errors import NotFound
from services.bff.backends import OrderBackend, UserBackend
from tests.support.contract_recording import RpcRecorder, settle
from tests.support.ports import free_port

# Fixed ids: the recorded files must not change from one run to the next.
CUSTOMER = uuid.UUID("00000000-0000-4000-8000-0000000000b1")
STRANGER = uuid.UUID("00000000-0000-4000-8000-0000000000b2")
ORDER = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
MISSING = uuid.UUID("00000000-0000-4000-8000-00000000dead")
BUDGET = 5.0


def _order(order_id: str) -> order_v1.Order:
    placed = Timestamp(seconds=1_700_000_000)
    price = order_v1.Money(currency_code="EUR", amount_minor=1250)
    return order_v1.Order(
        order_id=order_id,
        customer_id=str(CUSTOMER),
        items=[order_v1.LineItem(sku="BOOK-1", quantity=2, unit_price=price)],
        total=order_v1.Money(currency_code="EUR", amount_minor=2500),
        status=order_v1.ORDER_STATUS_PENDING,
        create_time=placed,
        update_time=placed,
    )


def _end_user(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    return str(dict(context.invocation_metadata() or ()).get(SUBJECT_METADATA, ""))


async def stand_in_get_user(
    request: user_v1.GetUserRequest, context: grpc.aio.ServicerContext[Any, Any]
) -> user_v1.GetUserResponse:
    """The user service as bff's tests need it: one user exists, any other is NOT_FOUND."""
    if request.user_id != str(CUSTOMER):
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such user")
    return user_v1.GetUserResponse(
        user=user_v1.User(user_id=request.user_id, email="ada@example.com", display_name="Ada")
    )


async def stand_in_list_orders(
    request: order_v1.ListOrdersRequest, context: grpc.aio.ServicerContext[Any, Any]
) -> order_v1.ListOrdersResponse:
    """One page of the end user's own orders (the order service lists no one else's)."""
    if request.customer_id != _end_user(context):
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, "another customer's orders")
    return order_v1.ListOrdersResponse(orders=[_order(str(ORDER))])


async def stand_in_get_order(
    request: order_v1.GetOrderRequest, context: grpc.aio.ServicerContext[Any, Any]
) -> order_v1.GetOrderResponse:
    """One order exists; to any end user but its customer it is NOT_FOUND, as is any other."""
    if request.order_id != str(ORDER) or _end_user(context) != str(CUSTOMER):
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such order")
    return order_v1.GetOrderResponse(order=_order(request.order_id))


def _handler(
    behaviour: Callable[..., Any], request: type[Message], reply: type[Message]
) -> grpc.RpcMethodHandler[Any, Any]:
    return grpc.unary_unary_rpc_method_handler(
        behaviour,
        request_deserializer=request.FromString,
        response_serializer=reply.SerializeToString,
    )


async def _serve(
    service: str, methods: dict[str, grpc.RpcMethodHandler[Any, Any]]
) -> grpc.aio.Server:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(service, methods)])
    return server


@pytest.fixture
async def users_address() -> AsyncIterator[str]:
    server = await _serve(
        "shop.user.v1.UserService",
        {"GetUser": _handler(stand_in_get_user, user_v1.GetUserRequest, user_v1.GetUserResponse)},
    )
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    await server.start()
    try:
        yield address
    finally:
        await server.stop(None)


@pytest.fixture
async def orders_address() -> AsyncIterator[str]:
    server = await _serve(
        "shop.order.v1.OrderService",
        {
            "ListOrders": _handler(
                stand_in_list_orders, order_v1.ListOrdersRequest, order_v1.ListOrdersResponse
            ),
            "GetOrder": _handler(
                stand_in_get_order, order_v1.GetOrderRequest, order_v1.GetOrderResponse
            ),
        },
    )
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    await server.start()
    try:
        yield address
    finally:
        await server.stop(None)


async def test_bff_records_what_it_relies_on_in_get_user(users_address: str) -> None:
    recorder = RpcRecorder()
    async with grpc.aio.insecure_channel(users_address, interceptors=[recorder]) as channel:
        users = UserBackend(channel)

        recorder.expect(
            "the signed-in user's profile", given="a user exists", user_id=str(CUSTOMER)
        )
        profile = await users.profile(str(CUSTOMER), BUDGET)
        assert (profile.email, profile.display_name) == ("ada@example.com", "Ada")

        recorder.expect("a user who does not exist")
        with pytest.raises(NotFound):
            await users.profile(str(MISSING), BUDGET)

    settle(recorder.contract("bff", "user", recorded_by=__name__))


async def test_bff_records_what_it_relies_on_in_list_and_get_order(orders_address: str) -> None:
    recorder = RpcRecorder()
    async with grpc.aio.insecure_channel(orders_address, interceptors=[recorder]) as channel:
        orders = OrderBackend(channel)
        mine = {"customer_id": str(CUSTOMER), "order_id": str(ORDER)}

        recorder.expect(
            "the first page of the end user's orders",
            given="a customer has more than a page of orders",
            customer_id=str(CUSTOMER),
        )
        history = await orders.history(str(CUSTOMER), BUDGET)
        assert [summary.order_id for summary in history.recent] == [str(ORDER)]

        recorder.expect("the end user's own order", given="an order exists", **mine)
        detail = await orders.order(str(ORDER), str(CUSTOMER), BUDGET)
        assert (detail.customer_id, detail.status) == (str(CUSTOMER), "PENDING")

        recorder.expect("another customer's order", given="an order exists", order_id=str(ORDER))
        with pytest.raises(NotFound):
            await orders.order(str(ORDER), str(STRANGER), BUDGET)

        recorder.expect("an order that does not exist", given="an order exists", **mine)
        with pytest.raises(NotFound):
            await orders.order(str(MISSING), str(CUSTOMER), BUDGET)

    settle(recorder.contract("bff", "order", recorded_by=__name__))
