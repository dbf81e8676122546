"""The order service as a consumer of shop.user.v1.UserService/GetUser; records
contracts/order/user-rpc.json.

The real `UserServiceCustomers` talks over a real channel to a stand-in user service, as
a Pact consumer test talks to a mock provider; the recorder on the channel writes down
what order sends, what it reads and which status codes it relies on.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from shop.user.v1 import user_pb2 as user_v1

from services.order.user_lookup import UserServiceCustomers
from tests.support.contract_recording import RpcRecorder, settle
from tests.support.ports import free_port

# Fixed ids: the recorded file must not change from one run to the next.
EXISTING = uuid.UUID("00000000-0000-4000-8000-0000000000e1")
MISSING = uuid.UUID("00000000-0000-4000-8000-00000000dead")


async def stand_in_get_user(
    request: user_v1.GetUserRequest, context: grpc.aio.ServicerContext[Any, Any]
) -> user_v1.GetUserResponse:
    """The user service as order's tests need it: one user exists, any other is NOT_FOUND."""
    if request.user_id != str(EXISTING):
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such user")
    return user_v1.GetUserResponse(
        user=user_v1.User(user_id=request.user_id, email="ada@example.com", display_name="Ada")
    )


@pytest.fixture
async def users_address() -> AsyncIterator[str]:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    get_user = grpc.unary_unary_rpc_method_handler(
        stand_in_get_user,
        request_deserializer=user_v1.GetUserRequest.FromString,
        response_serializer=user_v1.GetUserResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("shop.user.v1.UserService", {"GetUser": get_user})]
    )
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    await server.start()
    try:
        yield address
    finally:
        await server.stop(None)


async def test_order_records_what_it_relies_on_in_get_user(users_address: str) -> None:
    recorder = RpcRecorder()
    async with grpc.aio.insecure_channel(users_address, interceptors=[recorder]) as channel:
        customers = UserServiceCustomers(channel, timeout=5)

        recorder.expect("a customer who exists", given="a user exists", user_id=str(EXISTING))
        assert await customers.exists(EXISTING) is True

        recorder.expect("a customer who does not exist")
        assert await customers.exists(MISSING) is False

    settle(recorder.contract("order", "user", recorded_by=__name__))
