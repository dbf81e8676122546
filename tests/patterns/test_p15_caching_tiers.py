"""Pattern 15, caching tiers: the BFF reads through a cache in its process (tier 1) and
a JetStream KV bucket its replicas share (tier 2); events evict both.

Real parts: NATS with JetStream, the user and order services publishing
through their outboxes, and two BFF replicas as processes. What each replica
did is read from its own Prometheus metrics: backend calls
(`rpc_client_requests_total`) and cache lookups per tier
(`cache_lookups_total`).

Mutations tried (each makes a test here fail): single-flight removed
(`TieredCache.get_or_load` starting a load per caller) → the hundred misses
make a hundred calls; the event listener not subscribing
(`CacheInvalidation._follow` a no-op) → the renamed profile and the new
order never show within the bound (the TTL is five minutes); tier 2 not read
(`TieredCache._fill` skipping `shared.get`) → the second replica calls the
backends itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from shop.bff.web.v1 import web_bff_pb2 as web
from shop.bff.web.v1 import web_bff_pb2_grpc

from tests.support.bff_service import (
    as_customer,
    bff_service,
    create_customer,
    edge_channel,
    following_events,
    metrics_port,
    place_order,
    rename,
    web_stub,
)
from tests.support.consumers import eventually
from tests.support.nats import MESH_STREAMS, Nats, declare, start_nats
from tests.support.order_service import order_service
from tests.support.otlp import scrape_metrics
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

if TYPE_CHECKING:
    Stub = web_bff_pb2_grpc.WebBffServiceAsyncStub

pytestmark = pytest.mark.integration

TTL = "300"  # both tiers: whatever changes within a test can only be an eviction
GET_USER = "/shop.user.v1.UserService/GetUser"
LIST_ORDERS = "/shop.order.v1.OrderService/ListOrders"


@pytest.fixture(scope="module")
def own_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nats]:
    server = start_nats(tmp_path_factory.mktemp("nats-p15"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def backends(
    postgres: Postgres, own_nats: Nats, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    directory = tmp_path_factory.mktemp("p15-backends")
    users = user_service(postgres, directory, nats_url=own_nats.url)
    users.start()
    try:
        orders = order_service(postgres, directory, users.port, nats_url=own_nats.url)
        orders.start()
        try:
            yield users, orders
        finally:
            orders.kill()
    finally:
        users.kill()


def start_bff(
    directory: Path, backends: tuple[ServiceProcess, ServiceProcess], nats_url: str
) -> ServiceProcess:
    users, orders = backends
    bff = bff_service(
        directory,
        users.port,
        orders.port,
        nats_url=nats_url,
        cache_ttl=TTL,
        shared_cache_ttl=TTL,
        shared_cache_bucket="p15_cache",
    )
    bff.start()
    for _ in range(600):  # 30 s at most
        if following_events(bff):
            return bff
        time.sleep(0.05)
    bff.kill()
    raise TimeoutError(f"the BFF never followed the events:\n{bff.log()[-3000:]}")


@pytest.fixture(scope="module")
def replicas(
    backends: tuple[ServiceProcess, ServiceProcess],
    own_nats: Nats,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    directory = tmp_path_factory.mktemp("p15-bffs")
    first = start_bff(directory, backends, own_nats.url)
    try:
        second = start_bff(directory, backends, own_nats.url)
        try:
            yield first, second
        finally:
            second.kill()
    finally:
        first.kill()


@pytest.fixture
async def stubs(
    replicas: tuple[ServiceProcess, ServiceProcess],
) -> AsyncIterator[tuple[Stub, Stub]]:
    async with edge_channel(replicas[0]) as one, edge_channel(replicas[1]) as two:
        yield web_stub(one), web_stub(two)


async def dashboard(stub: Stub, customer: str) -> web.GetDashboardResponse:
    return await stub.GetDashboard(
        web.GetDashboardRequest(), metadata=as_customer(customer), timeout=5
    )


def calls(bff: ServiceProcess, method: str) -> float:
    found = scrape_metrics(metrics_port(bff))
    return found.get(("rpc_client_requests_total", (("code", "OK"), ("method", method))), 0.0)


def lookups(bff: ServiceProcess, cache: str, tier: int, result: str) -> float:
    labels = (("cache", cache), ("result", result), ("tier", str(tier)))
    return scrape_metrics(metrics_port(bff)).get(("cache_lookups_total", labels), 0.0)


async def test_a_hundred_concurrent_misses_on_one_key_make_one_backend_call(
    backends: tuple[ServiceProcess, ServiceProcess],
    replicas: tuple[ServiceProcess, ServiceProcess],
    stubs: tuple[Stub, Stub],
) -> None:
    users, orders = backends
    customer = await create_customer(users, "Hedy")
    await place_order(orders, customer)
    before = {method: calls(replicas[0], method) for method in (GET_USER, LIST_ORDERS)}

    replies = await asyncio.gather(*(dashboard(stubs[0], customer) for _ in range(100)))

    assert {(r.profile.display_name, r.order_count) for r in replies} == {("Hedy", 1)}
    after = {method: calls(replicas[0], method) for method in (GET_USER, LIST_ORDERS)}
    assert {method: after[method] - before[method] for method in after} == {
        GET_USER: 1,
        LIST_ORDERS: 1,
    }


async def test_the_second_replica_reads_what_the_first_loaded_from_tier_two(
    backends: tuple[ServiceProcess, ServiceProcess],
    replicas: tuple[ServiceProcess, ServiceProcess],
    stubs: tuple[Stub, Stub],
) -> None:
    customer = await create_customer(backends[0], "Radia")
    await dashboard(stubs[0], customer)  # misses both tiers: loads, fills tier 1 and tier 2
    second = replicas[1]
    calls_before, hits_before = calls(second, GET_USER), lookups(second, "profile", 2, "hit")

    reply = await dashboard(stubs[1], customer)

    assert reply.profile.display_name == "Radia"
    assert calls(second, GET_USER) == calls_before  # the user service was not asked
    assert lookups(second, "profile", 2, "hit") == hits_before + 1
    await dashboard(stubs[1], customer)
    assert lookups(second, "profile", 1, "hit") >= 1  # and then it is in its own tier 1


async def test_events_evict_both_tiers_on_every_replica_long_before_the_ttl(
    backends: tuple[ServiceProcess, ServiceProcess], stubs: tuple[Stub, Stub]
) -> None:
    users, orders = backends
    customer = await create_customer(users, "Katherine")
    for stub in stubs:  # both replicas hold the profile and the history in tier 1
        assert (await dashboard(stub, customer)).order_count == 0

    await rename(users, customer, "Kate")  # UserProfileChanged, through the user outbox
    await place_order(orders, customer)  # OrderPlaced, through the order outbox

    async def fresh_everywhere() -> bool:
        shown = [await dashboard(stub, customer) for stub in stubs]
        return all((r.profile.display_name, r.order_count) == ("Kate", 1) for r in shown)

    await eventually(fresh_everywhere, within=10)  # the TTL is 300 s


async def test_without_the_kv_bucket_the_bff_serves_from_tier_one_and_the_backends(
    backends: tuple[ServiceProcess, ServiceProcess], tmp_path: Path
) -> None:
    cache_nats = start_nats(tmp_path)  # tier 2's NATS alone, so stopping it spares the rest
    try:
        client = await cache_nats.connect()
        await declare(client, *MESH_STREAMS)  # as the services' relays would
        await client.close()
        bff = start_bff(tmp_path, backends, cache_nats.url)
    except BaseException:
        cache_nats.stop()
        raise
    try:
        cache_nats.stop()
        customer = await create_customer(backends[0], "Ida")
        async with edge_channel(bff) as channel:
            first = await dashboard(web_stub(channel), customer)
            again = await dashboard(web_stub(channel), customer)
        assert first.profile.display_name == again.profile.display_name == "Ida"
        assert list(first.degraded) == []
        found = scrape_metrics(metrics_port(bff))
        failures = sum(
            value
            for (name, _), value in found.items()
            if name == "cache_shared_tier_failures_total"
        )
        assert failures >= 1
        assert found[("cache_shared_tier_available", ())] == 0
        assert lookups(bff, "profile", 1, "hit") >= 1
        assert "shared cache tier unavailable" in bff.log()
        assert "serving from tier 1 and the backends" in bff.log()
    finally:
        bff.kill()
        cache_nats.stop()
