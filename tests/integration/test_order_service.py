"""The order service as a real process over the real PostgreSQL, checking
customers with a real user service found through the registry."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from nats.errors import TimeoutError as FetchTimeout
from shop.order.events.v1 import events_pb2
from shop.order.v1 import order_pb2 as v1
from shop.order.v1 import order_pb2_grpc as v1_grpc
from shop.user.v1 import user_pb2 as user_v1
from shop.user.v1 import user_pb2_grpc as user_v1_grpc

from services.order.streams import ORDER_EVENTS
from tests.support import mesh_tls
from tests.support.grpc_calls import field_violations, health, status_of
from tests.support.nats import start_nats
from tests.support.order_service import order_service, schema_of
from tests.support.ports import free_port
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

pytestmark = pytest.mark.integration
EVENT_TYPES: dict[str, type[Message]] = {
    "order.events.v1.OrderPlaced": events_pb2.OrderPlaced,
    "order.events.v1.OrderCancelled": events_pb2.OrderCancelled,
}


@pytest.fixture(scope="module")
def users(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    running = user_service(postgres, tmp_path_factory.mktemp("user"))
    running.start()
    yield running
    running.kill()


@pytest.fixture(scope="module")
def orders_service(
    postgres: Postgres, users: ServiceProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    running = order_service(postgres, tmp_path_factory.mktemp("order"), users.port)
    running.start()
    yield running
    assert running.terminate() == 0


@pytest.fixture
async def orders(orders_service: ServiceProcess) -> AsyncIterator[v1_grpc.OrderServiceAsyncStub]:
    # As the operator, a caller inside the mesh (the edge's calls are an end user's).
    async with mesh_tls.aio_channel(orders_service.address, "operator") as channel:
        yield v1_grpc.OrderServiceStub(channel)


@pytest.fixture
async def via_edge(orders_service: ServiceProcess) -> AsyncIterator[v1_grpc.OrderServiceAsyncStub]:
    # As the edge: the only caller whose forwarded end user (x-jwt-sub) is believed.
    async with mesh_tls.aio_channel(orders_service.address, "edge") as channel:
        yield v1_grpc.OrderServiceStub(channel)


@pytest.fixture
async def customer(users: ServiceProcess) -> str:
    async with mesh_tls.aio_channel(users.address) as channel:
        created = await user_v1_grpc.UserServiceStub(channel).CreateUser(
            user_v1.CreateUserRequest(email=f"{uuid.uuid4().hex}@example.com", display_name="C"),
            timeout=5,
        )
    return created.user.user_id


def wait_for_health(service: ServiceProcess, name: str, wanted: str, timeout: float = 10) -> str:
    """The health of `name` once it is `wanted`, or the last seen after `timeout` seconds.

    A server answers before its first readiness round ends; until then a
    named health entry is NOT_FOUND.
    """
    deadline = time.monotonic() + timeout
    seen = "NOT_FOUND"
    while time.monotonic() < deadline:
        try:
            seen = health(service.address, name)
        except grpc.RpcError as error:
            seen = error.code().name
        if seen == wanted:
            break
        time.sleep(0.05)
    return seen


def line(sku: str = "SKU-1", quantity: int = 1, amount: int = 250) -> v1.LineItem:
    return v1.LineItem(
        sku=sku, quantity=quantity, unit_price=v1.Money(currency_code="EUR", amount_minor=amount)
    )


async def count_rows(postgres: Postgres, service: ServiceProcess, table: str) -> int:
    connection = await postgres.connect()
    try:
        count: int = await connection.fetchval(f"SELECT count(*) FROM {schema_of(service)}.{table}")
    finally:
        await connection.close()
    return count


async def outbox_rows(
    postgres: Postgres, service: ServiceProcess, order_id: str
) -> list[asyncpg.Record]:
    connection = await postgres.connect()
    try:
        return await connection.fetch(
            f"SELECT id, sequence, event_type, subject, payload FROM {schema_of(service)}.outbox"
            " WHERE aggregate_id = $1 ORDER BY sequence",
            order_id,
        )
    finally:
        await connection.close()


async def test_an_order_is_placed_read_listed_and_cancelled(
    orders: v1_grpc.OrderServiceAsyncStub,
    customer: str,
    postgres: Postgres,
    orders_service: ServiceProcess,
) -> None:
    placed = await orders.PlaceOrder(
        v1.PlaceOrderRequest(customer_id=customer, items=[line(quantity=2), line("B", 1, 100)]),
        timeout=5,
    )
    order = placed.order
    assert order.status == v1.ORDER_STATUS_PENDING
    assert order.total == v1.Money(currency_code="EUR", amount_minor=600)
    got = await orders.GetOrder(v1.GetOrderRequest(order_id=order.order_id), timeout=5)
    assert got.order == order
    listed = await orders.ListOrders(v1.ListOrdersRequest(customer_id=customer), timeout=5)
    assert [o.order_id for o in listed.orders] == [order.order_id]

    cancelled = await orders.CancelOrder(
        v1.CancelOrderRequest(order_id=order.order_id, reason="late"), timeout=5
    )
    assert cancelled.order.status == v1.ORDER_STATUS_CANCELLED
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await orders.CancelOrder(v1.CancelOrderRequest(order_id=order.order_id), timeout=5)
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    failure = error_details_pb2.PreconditionFailure()
    assert any(d.Unpack(failure) for d in status_of(again.value).details)
    assert failure.violations[0].type == "ORDER_STATUS"

    rows = await outbox_rows(postgres, orders_service, order.order_id)
    assert [(r["sequence"], r["subject"]) for r in rows] == [
        (1, "order.events.v1.OrderPlaced"),
        (2, "order.events.v1.OrderCancelled"),
    ]
    event = events_pb2.OrderCancelled.FromString(rows[1]["payload"])
    assert (event.order_id, event.customer_id, event.reason) == (order.order_id, customer, "late")


async def test_without_nats_it_serves_and_says_nats_is_missing(
    orders: v1_grpc.OrderServiceAsyncStub, customer: str, orders_service: ServiceProcess
) -> None:
    """The fixture's NATS URL points at a port nobody listens on."""
    placed = await orders.PlaceOrder(
        v1.PlaceOrderRequest(customer_id=customer, items=[line()]), timeout=5
    )
    assert placed.order.status == v1.ORDER_STATUS_PENDING
    assert health(orders_service.address) == "SERVING"
    assert health(orders_service.address, "shop.order.v1.OrderService") == "SERVING"
    assert wait_for_health(orders_service, "nats", "NOT_SERVING") == "NOT_SERVING"


async def test_an_unknown_customer_is_a_failed_precondition(
    orders: v1_grpc.OrderServiceAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await orders.PlaceOrder(
            v1.PlaceOrderRequest(customer_id=str(uuid.uuid4()), items=[line()]), timeout=5
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "does not exist" in (raised.value.details() or "")


async def test_bad_input_is_invalid_argument_and_writes_nothing(
    orders: v1_grpc.OrderServiceAsyncStub,
    customer: str,
    postgres: Postgres,
    orders_service: ServiceProcess,
) -> None:
    before = [await count_rows(postgres, orders_service, t) for t in ("orders", "outbox")]
    bad = [
        (v1.PlaceOrderRequest(customer_id=customer), ["items"]),
        (
            v1.PlaceOrderRequest(customer_id=customer, items=[line(quantity=0)]),
            ["items[0].quantity"],
        ),
        (
            v1.PlaceOrderRequest(
                customer_id=customer,
                items=[v1.LineItem(sku="A", quantity=1, unit_price=v1.Money(currency_code="XYZ"))],
            ),
            ["items[0].unit_price.currency_code"],
        ),
        (
            v1.PlaceOrderRequest(customer_id=customer, items=[line(amount=2**62, quantity=4)]),
            ["items"],
        ),
        (v1.PlaceOrderRequest(customer_id=customer, items=[line(sku="S" * 65)]), ["items[0].sku"]),
    ]
    for request, fields in bad:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await orders.PlaceOrder(request, timeout=5)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(raised.value) == fields
    with pytest.raises(grpc.aio.AioRpcError) as unknown_enum:
        await orders.ListOrders(
            v1.ListOrdersRequest(customer_id=customer, status=42),  # type: ignore[arg-type]
            timeout=5,
        )
    assert field_violations(unknown_enum.value) == ["status"]
    with pytest.raises(grpc.aio.AioRpcError) as long_reason:
        await orders.CancelOrder(
            v1.CancelOrderRequest(order_id=str(uuid.uuid4()), reason="r" * 501), timeout=5
        )
    assert field_violations(long_reason.value) == ["reason"]
    after = [await count_rows(postgres, orders_service, t) for t in ("orders", "outbox")]
    assert after == before


async def test_an_end_user_sees_and_cancels_only_their_own_orders(
    orders: v1_grpc.OrderServiceAsyncStub, via_edge: v1_grpc.OrderServiceAsyncStub, customer: str
) -> None:
    placed = await via_edge.PlaceOrder(
        v1.PlaceOrderRequest(customer_id=customer, items=[line()]),
        metadata=(("x-jwt-sub", customer),),
        timeout=5,
    )
    order_id = placed.order.order_id
    mine = await via_edge.GetOrder(
        v1.GetOrderRequest(order_id=order_id), metadata=(("x-jwt-sub", customer),), timeout=5
    )
    assert mine.order.order_id == order_id
    stranger = (("x-jwt-sub", str(uuid.uuid4())),)
    # Another customer's order is not found, as if it did not exist: ids cannot be probed.
    hidden: list[Awaitable[object]] = [
        via_edge.GetOrder(v1.GetOrderRequest(order_id=order_id), metadata=stranger, timeout=5),
        via_edge.CancelOrder(
            v1.CancelOrderRequest(order_id=order_id), metadata=stranger, timeout=5
        ),
    ]
    refused: list[Awaitable[object]] = [
        via_edge.ListOrders(
            v1.ListOrdersRequest(customer_id=customer), metadata=stranger, timeout=5
        ),
        via_edge.PlaceOrder(
            v1.PlaceOrderRequest(customer_id=customer, items=[line()]), metadata=stranger, timeout=5
        ),
    ]
    denied = grpc.StatusCode.PERMISSION_DENIED
    for calls, code in ((hidden, grpc.StatusCode.NOT_FOUND), (refused, denied)):
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call
            assert raised.value.code() == code
    still = await orders.GetOrder(v1.GetOrderRequest(order_id=order_id), timeout=5)
    assert still.order.status == v1.ORDER_STATUS_PENDING
    # Through the edge without a signed-in user the call is anonymous, not internal.
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await via_edge.GetOrder(v1.GetOrderRequest(order_id=order_id), timeout=5)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_pages_walk_a_customers_orders_newest_first(
    orders: v1_grpc.OrderServiceAsyncStub, customer: str
) -> None:
    placed = [
        (await orders.PlaceOrder(v1.PlaceOrderRequest(customer_id=customer, items=[line()]))).order
        for _ in range(5)
    ]
    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = await orders.ListOrders(
            v1.ListOrdersRequest(customer_id=customer, page_size=2, page_token=token), timeout=5
        )
        seen += [o.order_id for o in page.orders]
        token = page.next_page_token
        if not token:
            break
    assert seen == [o.order_id for o in reversed(placed)]


async def test_an_unreachable_user_service_is_unavailable_with_retry_info(
    postgres: Postgres, tmp_path: Path
) -> None:
    """The registry points at a port where no user service listens."""
    service = order_service(postgres, tmp_path, free_port(), user_service_timeout="0.5")
    try:
        service.start()
        async with mesh_tls.aio_channel(service.address) as channel:
            stub = v1_grpc.OrderServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.PlaceOrder(
                    v1.PlaceOrderRequest(customer_id=str(uuid.uuid4()), items=[line()]), timeout=5
                )
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        retry = error_details_pb2.RetryInfo()
        assert any(d.Unpack(retry) for d in status_of(raised.value).details)
        assert retry.retry_delay.seconds >= 1
        assert await count_rows(postgres, service, "orders") == 0
    finally:
        service.kill()


async def test_placed_and_cancelled_orders_reach_jetstream_through_the_relay(
    postgres: Postgres, users: ServiceProcess, customer: str, tmp_path: Path
) -> None:
    """The relay runs inside the service process and publishes each outbox row once,
    with the outbox event id as the NATS message id. A NATS of its own: the
    relay declares the mesh's ORDER_EVENTS stream, which other tests use too."""
    nats = start_nats(tmp_path)
    service = order_service(postgres, tmp_path, users.port, nats_url=nats.url)
    try:
        client = await nats.connect("order-events-test")
    except BaseException:
        nats.stop()
        raise
    try:
        service.start()
        assert wait_for_health(service, "nats", "SERVING") == "SERVING"
        async with mesh_tls.aio_channel(service.address) as channel:
            stub = v1_grpc.OrderServiceStub(channel)
            placed = await stub.PlaceOrder(
                v1.PlaceOrderRequest(customer_id=customer, items=[line()]), timeout=5
            )
            order_id = placed.order.order_id
            await stub.CancelOrder(v1.CancelOrderRequest(order_id=order_id), timeout=5)
        subscription = await client.jetstream().pull_subscribe(
            "order.events.>", stream=ORDER_EVENTS.name
        )
        seen: dict[str, str] = {}  # subject -> Nats-Msg-Id, for this order's events
        deadline = time.monotonic() + 20
        while len(seen) < 2 and time.monotonic() < deadline:
            try:
                batch = await subscription.fetch(100, timeout=1)
            except FetchTimeout:
                continue
            for message in batch:
                event = EVENT_TYPES[message.subject].FromString(message.data)
                if getattr(event, "order_id", None) == order_id:
                    seen[message.subject] = (message.headers or {}).get("Nats-Msg-Id", "")
        rows = await outbox_rows(postgres, service, order_id)
        assert seen == {row["subject"]: str(row["id"]) for row in rows}
    finally:
        await client.close()
        service.kill()
        nats.stop()
