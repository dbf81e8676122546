"""Pattern 7: idempotent endpoints, on the real order service and PostgreSQL.

Proven here: a PlaceOrder repeated with one `idempotency-key` has one effect
(one order, one outbox event) and gets the first response back byte for
byte; the same key with another body is refused with FAILED_PRECONDITION and
a PreconditionFailure; ten concurrent calls with one key make one order and
one outbox row; a repeated CancelOrder replays its first answer instead of
failing on the now-cancelled order. Without the pattern each repeat would
place another order. Every other mutating RPC of the public contracts (the
user service's, v1 and v2) replays a keyed repeat the same way, through the
same runtime module, and a guard fails when a new mutating RPC is added
without joining this proof.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from shop.order.v1 import order_pb2 as v1
from shop.order.v1 import order_pb2_grpc as v1_grpc
from shop.user.v1 import user_pb2 as user_v1
from shop.user.v1 import user_pb2_grpc as user_v1_grpc
from shop.user.v2 import user_pb2 as user_v2
from shop.user.v2 import user_pb2_grpc as user_v2_grpc

from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry.catalogue import RpcCatalogue
from tests.support import mesh_tls
from tests.support.grpc_calls import status_of
from tests.support.mail import MailSink
from tests.support.order_service import running_user_and_order, schema_of
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.integration

CONCURRENT_CALLS = 10


@pytest.fixture(scope="module")
def services(
    postgres: Postgres, mail_sink: MailSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    directory = tmp_path_factory.mktemp("p07")
    mail = mail_sink.service_settings
    with running_user_and_order(postgres, directory, user_overrides=mail) as services:
        yield services


@pytest.fixture
async def orders(
    services: tuple[ServiceProcess, ServiceProcess],
) -> AsyncIterator[v1_grpc.OrderServiceAsyncStub]:
    # As the operator, a caller inside the mesh: the edge's calls are an end user's,
    # and anonymous ones are refused by the routes' end-user policy.
    async with mesh_tls.aio_channel(services[1].address, "operator") as channel:
        yield v1_grpc.OrderServiceStub(channel)


@pytest.fixture
async def customer(services: tuple[ServiceProcess, ServiceProcess]) -> str:
    async with mesh_tls.aio_channel(services[0].address) as channel:
        created = await user_v1_grpc.UserServiceStub(channel).CreateUser(
            user_v1.CreateUserRequest(email=f"{uuid.uuid4().hex}@example.com", display_name="I"),
            timeout=5,
        )
    return created.user.user_id


def request(customer: str, quantity: int = 1) -> v1.PlaceOrderRequest:
    price = v1.Money(currency_code="EUR", amount_minor=999)
    return v1.PlaceOrderRequest(
        customer_id=customer, items=[v1.LineItem(sku="MUG", quantity=quantity, unit_price=price)]
    )


def keyed(key: str) -> tuple[tuple[str, str]]:
    return (("idempotency-key", key),)


async def effects(
    postgres: Postgres, services: tuple[ServiceProcess, ServiceProcess], customer: str
) -> tuple[int, int]:
    """(orders, outbox events) the customer's calls left in the database."""
    schema = schema_of(services[1])
    connection = await postgres.connect()
    try:
        placed = await connection.fetchval(
            f"SELECT count(*) FROM {schema}.orders WHERE customer_id = $1", uuid.UUID(customer)
        )
        events = await connection.fetchval(
            f"SELECT count(*) FROM {schema}.outbox o JOIN {schema}.orders r"
            " ON o.aggregate_id = r.id::text WHERE r.customer_id = $1",
            uuid.UUID(customer),
        )
    finally:
        await connection.close()
    return placed, events


async def test_a_repeat_with_one_key_has_one_effect_and_the_first_response(
    orders: v1_grpc.OrderServiceAsyncStub,
    customer: str,
    postgres: Postgres,
    services: tuple[ServiceProcess, ServiceProcess],
) -> None:
    key = str(uuid.uuid4())
    first = await orders.PlaceOrder(request(customer), metadata=keyed(key), timeout=5)
    second = await orders.PlaceOrder(request(customer), metadata=keyed(key), timeout=5)
    assert second.SerializeToString() == first.SerializeToString()
    assert await effects(postgres, services, customer) == (1, 1)

    other_key = await orders.PlaceOrder(
        request(customer), metadata=keyed(str(uuid.uuid4())), timeout=5
    )
    assert other_key.order.order_id != first.order.order_id
    assert await effects(postgres, services, customer) == (2, 2)


async def test_the_same_key_with_another_body_is_refused(
    orders: v1_grpc.OrderServiceAsyncStub,
    customer: str,
    postgres: Postgres,
    services: tuple[ServiceProcess, ServiceProcess],
) -> None:
    key = str(uuid.uuid4())
    await orders.PlaceOrder(request(customer), metadata=keyed(key), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await orders.PlaceOrder(request(customer, quantity=2), metadata=keyed(key), timeout=5)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already used" in (raised.value.details() or "")
    failure = error_details_pb2.PreconditionFailure()
    assert any(d.Unpack(failure) for d in status_of(raised.value).details)
    assert (failure.violations[0].type, failure.violations[0].subject) == (
        "IDEMPOTENCY_KEY_REUSED",
        "idempotency-key",
    )
    assert await effects(postgres, services, customer) == (1, 1)


async def test_concurrent_calls_with_one_key_make_one_order(
    orders: v1_grpc.OrderServiceAsyncStub,
    customer: str,
    postgres: Postgres,
    services: tuple[ServiceProcess, ServiceProcess],
) -> None:
    key = str(uuid.uuid4())
    calls = [
        orders.PlaceOrder(request(customer), metadata=keyed(key), timeout=10)
        for _ in range(CONCURRENT_CALLS)
    ]
    replies = await asyncio.gather(*calls)
    assert len({reply.order.order_id for reply in replies}) == 1
    assert await effects(postgres, services, customer) == (1, 1)


async def test_a_repeated_cancel_replays_its_first_answer(
    orders: v1_grpc.OrderServiceAsyncStub,
    customer: str,
    postgres: Postgres,
    services: tuple[ServiceProcess, ServiceProcess],
) -> None:
    placed = await orders.PlaceOrder(request(customer), timeout=5)
    cancel = v1.CancelOrderRequest(order_id=placed.order.order_id, reason="twice")
    key = str(uuid.uuid4())
    first = await orders.CancelOrder(cancel, metadata=keyed(key), timeout=5)
    again = await orders.CancelOrder(cancel, metadata=keyed(key), timeout=5)
    assert again == first
    assert await effects(postgres, services, customer) == (1, 2)
    with pytest.raises(grpc.aio.AioRpcError) as unkeyed:
        await orders.CancelOrder(cancel, timeout=5)
    assert unkeyed.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_keys_belong_to_their_caller(
    orders: v1_grpc.OrderServiceAsyncStub,
    customer: str,
    postgres: Postgres,
    services: tuple[ServiceProcess, ServiceProcess],
) -> None:
    """An end user's key and the calling service's equal key are two different calls."""
    key = str(uuid.uuid4())
    as_user = (*keyed(key), ("x-jwt-sub", customer))
    # Through the edge: the only caller whose forwarded end user (x-jwt-sub) is believed.
    async with mesh_tls.aio_channel(services[1].address, "edge") as channel:
        edge = v1_grpc.OrderServiceStub(channel)
        mine = await edge.PlaceOrder(request(customer), metadata=as_user, timeout=5)
    as_service = await orders.PlaceOrder(request(customer), metadata=keyed(key), timeout=5)
    assert mine.order.order_id != as_service.order.order_id
    assert await effects(postgres, services, customer) == (2, 2)


async def test_a_malformed_key_is_invalid_argument(
    orders: v1_grpc.OrderServiceAsyncStub, customer: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await orders.PlaceOrder(request(customer), metadata=keyed("has space"), timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# Each mutating user RPC, as a keyed call on a fresh user (its id, its email, the
# verification code mailed to it) → the reply.
UserCall = Callable[
    [
        "user_v1_grpc.UserServiceAsyncStub",
        "user_v2_grpc.UserServiceAsyncStub",
        str,
        str,
        str,
        str,
    ],
    Awaitable[Message],
]
USER_MUTATIONS: dict[str, UserCall] = {
    "shop.user.v1.UserService/CreateUser": lambda v1s, _, __, email, ___, key: v1s.CreateUser(
        user_v1.CreateUserRequest(email=f"new-{email}", display_name="N"),
        metadata=keyed(key),
        timeout=5,
    ),
    "shop.user.v1.UserService/UpdateUser": lambda v1s, _, user_id, __, ___, key: v1s.UpdateUser(
        user_v1.UpdateUserRequest(user_id=user_id, display_name="Renamed"),
        metadata=keyed(key),
        timeout=5,
    ),
    "shop.user.v2.UserService/CreateUser": lambda _, v2s, __, email, ___, key: v2s.CreateUser(
        user_v2.CreateUserRequest(email=f"new2-{email}", name=user_v2.PersonName(given_name="N")),
        metadata=keyed(key),
        timeout=5,
    ),
    "shop.user.v2.UserService/UpdateUser": lambda _, v2s, user_id, __, ___, key: v2s.UpdateUser(
        user_v2.UpdateUserRequest(user_id=user_id, name=user_v2.PersonName(given_name="R")),
        metadata=keyed(key),
        timeout=5,
    ),
    "shop.user.v2.UserService/SendEmailVerification": (
        lambda _, v2s, user_id, __, ___, key: v2s.SendEmailVerification(
            user_v2.SendEmailVerificationRequest(user_id=user_id), metadata=keyed(key), timeout=10
        )
    ),
    "shop.user.v2.UserService/VerifyEmail": lambda _, v2s, user_id, __, code, key: v2s.VerifyEmail(
        user_v2.VerifyEmailRequest(user_id=user_id, code=code), metadata=keyed(key), timeout=5
    ),
}
ORDER_MUTATIONS = {
    "shop.order.v1.OrderService/PlaceOrder",
    "shop.order.v1.OrderService/CancelOrder",
}


def test_every_mutating_public_rpc_is_proven_idempotent_here() -> None:
    """A new POST or PATCH in a public contract must join this module's proof."""
    catalogue = RpcCatalogue.load(DESCRIPTOR_SET)
    mutating = {
        f"{service}/{name}"
        for service, rpcs in catalogue.services.items()
        if service.startswith(("shop.user.", "shop.order."))
        for name, rpc in rpcs.items()
        if not rpc.idempotent
    }
    assert mutating == set(USER_MUTATIONS) | ORDER_MUTATIONS


@pytest.mark.parametrize("method", sorted(USER_MUTATIONS))
async def test_every_mutating_user_rpc_replays_a_keyed_repeat_with_one_effect(
    method: str,
    services: tuple[ServiceProcess, ServiceProcess],
    postgres: Postgres,
    mail_sink: MailSink,
) -> None:
    email = f"{uuid.uuid4().hex}@example.com"
    async with mesh_tls.aio_channel(services[0].address) as channel:
        v1s, v2s = user_v1_grpc.UserServiceStub(channel), user_v2_grpc.UserServiceStub(channel)
        created = await v1s.CreateUser(
            user_v1.CreateUserRequest(email=email, display_name="U"), timeout=5
        )
        user_id, key = created.user.user_id, str(uuid.uuid4())
        await v2s.SendEmailVerification(
            user_v2.SendEmailVerificationRequest(user_id=user_id), timeout=10
        )
        code = mail_sink.code_for(email)
        call = USER_MUTATIONS[method]
        first = await call(v1s, v2s, user_id, email, code, key)
        events_after_first = await user_outbox_rows(postgres, services[0])
        mails_after_first = len(mail_sink.mail_for(email))
        again = await call(v1s, v2s, user_id, email, code, key)
    assert again.SerializeToString() == first.SerializeToString()
    assert await user_outbox_rows(postgres, services[0]) == events_after_first
    assert len(mail_sink.mail_for(email)) == mails_after_first  # a repeat sends no mail


async def user_outbox_rows(postgres: Postgres, user_service: ServiceProcess) -> int:
    schema = user_service.env["USER_SERVICE_DATABASE_SCHEMA"]
    connection = await postgres.connect()
    try:
        count: int = await connection.fetchval(f"SELECT count(*) FROM {schema}.outbox")
    finally:
        await connection.close()
    return count
