"""Pattern 5, backends for frontends: the web app's screens come from a BFF that composes
the user and order services, and degrades instead of failing.

Real parts: the user, order and BFF services run as processes over mTLS (the
BFF as `bff`, allowed by mesh.yaml to read users and orders and to forward
the end user to order). The tests call the BFF as the edge, with the signed-in
customer in `x-jwt-sub`, and kill or freeze the real backends by pid.

Without the pattern the web app would call user and order itself, one
request per table, and a slow order service would hang its dashboard: here
the dashboard answers within its budget with a `degraded` list instead.

Mutation tried: `handlers.get_dashboard` raising UNAVAILABLE when the order
history fails (instead of degrading) → the dead and frozen order service
tests fail.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from shop.bff.web.v1 import web_bff_pb2 as web
from shop.bff.web.v1 import web_bff_pb2_grpc

from tests.support import mesh_tls
from tests.support.bff_service import (
    as_customer,
    bff_service,
    create_customer,
    edge_channel,
    place_order,
    web_stub,
)
from tests.support.consumers import eventually
from tests.support.envoy import Reply, edge_mesh, running_envoy
from tests.support.grpc_calls import status_of
from tests.support.order_service import order_service
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

pytestmark = pytest.mark.integration

# The budgets the BFF under test gives each backend, and the deadline a screen gets:
# the order service's share fits inside it with room to spare.
BACKEND_BUDGET = "0.5"
SCREEN_DEADLINE = 2.0


@pytest.fixture(scope="module")
def users(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    service = user_service(postgres, tmp_path_factory.mktemp("p05-users"))
    service.start()
    yield service
    service.kill()


@pytest.fixture
def orders(postgres: Postgres, users: ServiceProcess, tmp_path: Path) -> Iterator[ServiceProcess]:
    """An order service of each test's own: the fault tests kill or freeze it."""
    service = order_service(postgres, tmp_path, users.port)
    service.start()
    yield service
    if service.process is not None and service.process.poll() is None:
        os.killpg(service.process.pid, signal.SIGCONT)
    service.kill()


@pytest.fixture
def bff(users: ServiceProcess, orders: ServiceProcess, tmp_path: Path) -> Iterator[ServiceProcess]:
    service = bff_service(
        tmp_path,
        users.port,
        orders.port,
        user_timeout=BACKEND_BUDGET,
        order_timeout=BACKEND_BUDGET,
    )
    service.start()
    yield service
    service.kill()


@pytest.fixture
async def screens(bff: ServiceProcess) -> AsyncIterator[web_bff_pb2_grpc.WebBffServiceAsyncStub]:
    async with edge_channel(bff) as channel:
        yield web_stub(channel)


async def dashboard(
    screens: web_bff_pb2_grpc.WebBffServiceAsyncStub, customer: str, limit: int = 0
) -> web.GetDashboardResponse:
    return await screens.GetDashboard(
        web.GetDashboardRequest(recent_orders_limit=limit),
        metadata=as_customer(customer),
        timeout=SCREEN_DEADLINE,
    )


def freeze(service: ServiceProcess) -> None:
    assert service.process is not None
    os.killpg(service.process.pid, signal.SIGSTOP)


def thaw(service: ServiceProcess) -> None:
    assert service.process is not None
    os.killpg(service.process.pid, signal.SIGCONT)


def retry_delay(error: grpc.aio.AioRpcError) -> float:
    info = error_details_pb2.RetryInfo()
    for detail in status_of(error).details:
        if detail.Unpack(info):
            seconds: float = info.retry_delay.ToTimedelta().total_seconds()
            return seconds
    raise AssertionError("no RetryInfo")


async def test_the_dashboard_is_one_call_composed_from_user_and_order(
    screens: web_bff_pb2_grpc.WebBffServiceAsyncStub, users: ServiceProcess, orders: ServiceProcess
) -> None:
    customer = await create_customer(users, "Grace")
    placed = [await place_order(orders, customer, quantity=n) for n in (1, 2, 3)]

    reply = await dashboard(screens, customer, limit=2)

    assert (reply.profile.user_id, reply.profile.display_name) == (customer, "Grace")
    assert [o.order_id for o in reply.recent_orders] == placed[::-1][:2]  # newest first
    assert reply.recent_orders[0].item_count == 3
    assert reply.recent_orders[0].total == web.Money(currency_code="EUR", amount_minor=3750)
    assert reply.recent_orders[0].status in {"PENDING", "CONFIRMED"}
    assert (reply.order_count, reply.order_count_capped) == (3, False)
    assert list(reply.degraded) == []


async def test_an_order_page_carries_the_customers_name_and_hides_other_customers_orders(
    screens: web_bff_pb2_grpc.WebBffServiceAsyncStub, users: ServiceProcess, orders: ServiceProcess
) -> None:
    owner, other = await create_customer(users, "Ada"), await create_customer(users, "Eve")
    order_id = await place_order(orders, owner, quantity=2)

    page = await screens.GetOrderPage(
        web.GetOrderPageRequest(order_id=order_id), metadata=as_customer(owner), timeout=5
    )
    assert (page.order_id, page.customer_display_name) == (order_id, "Ada")
    assert [(line.sku, line.quantity) for line in page.lines] == [("BOOK-1", 2)]

    # Eve asks for Ada's order: the order service says NOT_FOUND, as for a missing one.
    for who, asked in ((other, order_id), (owner, str(uuid.uuid4()))):
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await screens.GetOrderPage(
                web.GetOrderPageRequest(order_id=asked), metadata=as_customer(who), timeout=5
            )
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
        assert hidden.value.details() == f"order {asked!r} not found"


async def test_a_token_whose_subject_is_no_user_gets_not_found_with_a_clear_message(
    screens: web_bff_pb2_grpc.WebBffServiceAsyncStub,
) -> None:
    stranger = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await dashboard(screens, stranger)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert f"no user {stranger!r} (the token's subject)" in (missing.value.details() or "")


async def test_the_customer_is_the_forwarded_end_user_never_a_field_or_another_callers_header(
    bff: ServiceProcess, users: ServiceProcess
) -> None:
    customer = await create_customer(users)
    # The operator is allowed to call, but is not the edge: its x-jwt-sub is ignored.
    async with mesh_tls.aio_channel(bff.address, "operator", "bff") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await web_stub(channel).GetDashboard(
                web.GetDashboardRequest(), metadata=as_customer(customer), timeout=5
            )
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_dead_order_service_leaves_a_degraded_dashboard_not_an_error(
    screens: web_bff_pb2_grpc.WebBffServiceAsyncStub, users: ServiceProcess, orders: ServiceProcess
) -> None:
    customer = await create_customer(users, "Linus")
    await place_order(orders, customer)
    orders.kill()  # SIGKILL by pid

    reply = await dashboard(screens, customer)  # within SCREEN_DEADLINE, or this raises

    assert reply.profile.display_name == "Linus"
    assert (list(reply.recent_orders), reply.order_count) == ([], 0)
    assert [(part.part, "order service" in part.reason) for part in reply.degraded] == [
        ("recent_orders", True),
        ("order_count", True),
    ]


async def test_a_frozen_order_service_costs_its_budget_not_the_screen_and_is_not_cached(
    screens: web_bff_pb2_grpc.WebBffServiceAsyncStub, users: ServiceProcess, orders: ServiceProcess
) -> None:
    customer = await create_customer(users, "Barbara")
    await place_order(orders, customer)
    freeze(orders)  # SIGSTOP: connected, silent
    try:
        slow = await dashboard(screens, customer)
    finally:
        thaw(orders)
    assert [part.part for part in slow.degraded] == ["recent_orders", "order_count"]
    assert "did not answer within 500 ms" in slow.degraded[0].reason

    # The degraded answer was not cached (the cache keeps entries 30 s): once the
    # thawed service has caught up, the next dashboard has the orders.
    async def healed() -> bool:
        reply = await dashboard(screens, customer)
        return (reply.order_count, list(reply.degraded)) == (1, [])

    await eventually(healed, within=10)


async def test_without_the_user_service_the_dashboard_fails_unavailable_with_retry_info(
    screens: web_bff_pb2_grpc.WebBffServiceAsyncStub, users: ServiceProcess
) -> None:
    customer = await create_customer(users)  # never shown: nothing cached for it
    freeze(users)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await dashboard(screens, customer)
    finally:
        thaw(users)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "the user service did not answer" in (failed.value.details() or "")
    assert retry_delay(failed.value) == 1.0


async def test_through_the_edge_a_token_is_the_only_way_to_name_the_customer(
    users: ServiceProcess, orders: ServiceProcess, bff: ServiceProcess, tmp_path: Path
) -> None:
    customer = await create_customer(users, "Margaret")
    order_id = await place_order(orders, customer)
    mesh = edge_mesh([users.port], order_ports=[orders.port], bff_ports=[bff.port])
    with running_envoy(mesh, tmp_path / "edge") as edge:
        edge.wait_upstreams_healthy()

        def get(path: str, subject: str | None) -> Reply:
            headers = {} if subject is None else {"authorization": f"Bearer {edge.token(subject)}"}
            return edge.request("GET", path, headers=headers)

        mine = get("/web/v1/dashboard?recent_orders_limit=1", customer)
        assert mine.status == 200, mine.body
        assert mine.json()["profile"]["display_name"] == "Margaret"
        assert [o["order_id"] for o in mine.json()["recent_orders"]] == [order_id]
        assert get(f"/web/v1/orders/{order_id}", customer).status == 200

        assert get("/web/v1/dashboard", None).status == 401  # signed in only
        nobody = get("/web/v1/dashboard", str(uuid.uuid4()))
        assert nobody.status == 404
        assert "the token's subject" in nobody.json()["message"]
        # another customer's order is 404, like one that does not exist
        other = await create_customer(users)
        assert get(f"/web/v1/orders/{order_id}", other).status == 404
