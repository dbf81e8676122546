"""Pattern 14, read models / CQRS-lite: a query side that no write path touches.

The reporting service (a real process with its own schema, role and
certificate) builds per-customer order summaries from ORDER_EVENTS and
USER_EVENTS, answers `GetCustomerSummary` with how fresh the answer is, lets
an end user read only their own summary, survives SIGKILL mid-stream without
counting twice, and is rebuilt from the streams' history by one command that
swaps the new tables in while queries go on. NATS and PostgreSQL are real.

Mutations tried, each failing a test here: `apply_event` without
`record_once` (the redelivered placement counts twice); the swap without its
catch-up `read_stream` (the rebuilt model misses the events published during
the rebuild); the servicer without its `require_end_user` check (another
customer's summary is served); `_summary` without the insert that gives it a
row to lock (two consumers meeting a new customer at once lose an update).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import grpc
import pytest
from shop.order.events.v1 import events_pb2 as order_events
from shop.order.v1 import order_pb2
from shop.reporting.v1 import reporting_pb2 as v1
from shop.reporting.v1 import reporting_pb2_grpc
from shop.user.events.v1 import events_pb2 as user_events

from protomesh.bus.processed import record_once
from protomesh.bus.publisher import JetStreamPublisher
from protomesh.bus.streams import ensure_streams
from services.reporting.domain import CustomerNamed, OrderPlaced
from services.reporting.projection import apply_event
from services.reporting.rebuild import lock_live_set
from services.reporting.streams import ORDER_EVENTS, USER_EVENTS
from services.reporting.tables import APPLIED, create_tables
from tests.support import mesh_tls
from tests.support.consumers import eventually, publish_event, schema_pool
from tests.support.envoy import edge_mesh, running_envoy
from tests.support.nats import MESH_STREAMS, Nats
from tests.support.ports import free_port
from tests.support.postgres import Postgres
from tests.support.reporting import (
    EventSource,
    model_pool,
    model_rows,
    rebuild_command,
    reporting_service,
)
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.integration


@dataclass
class World:
    source: EventSource
    service: ServiceProcess
    postgres: Postgres

    async def summary(
        self, customer: str, *, identity: str = "operator", end_user: str | None = None
    ) -> v1.GetCustomerSummaryResponse:
        metadata = (("x-jwt-sub", end_user),) if end_user else ()
        async with mesh_tls.aio_channel(self.service.address, identity, "reporting") as channel:
            stub = reporting_pb2_grpc.ReportingServiceStub(channel)
            response: v1.GetCustomerSummaryResponse = await stub.GetCustomerSummary(
                v1.GetCustomerSummaryRequest(customer_id=customer), metadata=metadata, timeout=5
            )
            return response

    async def caught_up(self) -> bool:
        """The model has applied everything now in both streams."""
        pool = await model_pool(self.postgres, self.service)
        try:
            rows = await pool.fetch("SELECT stream, sequence FROM stream_positions")
        finally:
            await pool.close()
        positions = {row["stream"]: row["sequence"] for row in rows}
        for stream in (ORDER_EVENTS.name, USER_EVENTS.name):
            last = await self.source.last_sequence(stream)
            if last and positions.get(stream, 0) < last:
                return False
        return True


@pytest.fixture
async def world(own_nats: Nats, postgres: Postgres, tmp_path: Path) -> AsyncIterator[World]:
    client, js = await own_nats.jetstream("p14")
    await ensure_streams(js, MESH_STREAMS)
    service = reporting_service(postgres, tmp_path, own_nats.url)
    service.start()
    try:
        yield World(EventSource(js, JetStreamPublisher(client)), service, postgres)
    finally:
        service.kill()
        for stream in MESH_STREAMS:
            await js.delete_stream(stream.name)
        await client.close()


def placed(order: str, customer: str, currency: str, amount: int) -> order_events.OrderPlaced:
    total = order_pb2.Money(currency_code=currency, amount_minor=amount)
    return order_events.OrderPlaced(order_id=order, customer_id=customer, total=total)


def cancelled(order: str, customer: str) -> order_events.OrderCancelled:
    return order_events.OrderCancelled(order_id=order, customer_id=customer)


async def test_the_summary_is_built_from_events_and_says_how_fresh_it_is(world: World) -> None:
    ada, other = str(uuid.uuid4()), str(uuid.uuid4())
    source = world.source
    third = source.event(placed("o-3", ada, "EUR", 500))
    await source.publish(
        [source.event(user_events.UserRegistered(user_id=ada, display_name="Ada"))]
    )
    await source.publish(
        [
            source.event(placed("o-1", ada, "EUR", 1250)),
            source.event(placed("o-2", ada, "USD", 999)),
            third,
            source.event(cancelled("o-3", ada)),
        ]
    )
    last_user_event = source.event(
        user_events.UserProfileChanged(user_id=ada, display_name="Ada L.")
    )
    await source.publish([last_user_event])
    # A redelivered copy of an event already applied (same id, stored twice), arriving
    # after its order's cancellation: only its id tells it from a late placement.
    await publish_event(
        source.js,
        "order.events.v1.OrderPlaced",
        placed("o-3", ada, "EUR", 500),
        third.event_id,
        msg_id=False,
    )
    await eventually(world.caught_up, within=30)

    answer = await world.summary(ada)
    summary = answer.summary
    assert (summary.customer_id, summary.display_name) == (ada, "Ada L.")
    assert (summary.orders_placed, summary.orders_cancelled) == (3, 1)
    assert [(t.currency_code, t.amount_minor) for t in summary.total_spent] == [
        ("EUR", 1250),
        ("USD", 999),
    ]
    assert summary.HasField("last_order_time")
    # Freshness: the last event applied from each stream, and when it happened.
    positions = {p.stream: p for p in answer.freshness}
    assert positions[ORDER_EVENTS.name].sequence == await source.last_sequence(ORDER_EVENTS.name)
    assert positions[USER_EVENTS.name].sequence == 2
    assert positions[USER_EVENTS.name].event_time.ToDatetime().replace(
        microsecond=0
    ) == last_user_event.occurred_at.replace(tzinfo=None, microsecond=0)
    assert positions[USER_EVENTS.name].applied_time.ToDatetime() >= (
        positions[USER_EVENTS.name].event_time.ToDatetime()
    )

    # End users: the edge forwards who is asking; a customer reads only their own.
    own = await world.summary(ada, identity="edge", end_user=ada)
    assert own.summary.orders_placed == 3
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await world.summary(ada, identity="edge", end_user=other)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await world.summary(ada, identity="edge")
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # A customer the model has not seen: an empty summary, still saying how fresh it is.
    unseen = await world.summary(other)
    assert (unseen.summary.customer_id, unseen.summary.orders_placed) == (other, 0)
    assert {p.stream for p in unseen.freshness} == {ORDER_EVENTS.name, USER_EVENTS.name}


async def test_a_projector_killed_mid_stream_resumes_without_counting_twice(
    world: World,
) -> None:
    customers = [str(uuid.uuid4()) for _ in range(20)]
    per_customer = 100
    events = [
        world.source.event(placed(f"{customer}-{n}", customer, "EUR", 1))
        for n in range(per_customer)
        for customer in customers
    ]
    pool = await model_pool(world.postgres, world.service)
    try:
        await world.source.publish(events)

        async def some_applied() -> bool:
            return bool(await pool.fetchval("SELECT count(*) >= 200 FROM applied_events"))

        await eventually(some_applied, within=30)
        assert world.service.process is not None
        world.service.kill()  # SIGKILL to its process group: no clean-up, no last acks
        applied_at_kill = await pool.fetchval("SELECT count(*) FROM applied_events")
        assert 0 < applied_at_kill < len(events), "the kill must land mid-stream"

        world.service.start()

        async def all_applied() -> bool:
            count = await pool.fetchval("SELECT count(*) FROM applied_events")
            return bool(count >= len(events))

        # Events delivered but unacknowledged at the kill come back after ack_wait.
        await eventually(all_applied, within=60)
        await eventually(world.caught_up, within=60)
        rows = await pool.fetch(
            "SELECT customer_id, orders_placed, spent::text FROM customer_summaries"
        )
        assert {row["customer_id"] for row in rows} == set(customers)
        assert {(row["orders_placed"], row["spent"]) for row in rows} == {
            (per_customer, '{"EUR": 100}')
        }
        assert await pool.fetchval("SELECT count(*) FROM applied_events") == len(events)
    finally:
        await pool.close()


async def pruning_indexes(pool: asyncpg.Pool) -> list[str]:
    """The indexes on the live applied ids' time, which the pruner reads."""
    rows = await pool.fetch(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        " AND tablename = 'applied_events' AND indexdef LIKE '%(processed_at)'"
    )
    return [row["indexname"] for row in rows]


async def test_a_rebuild_equals_the_live_model_and_swaps_in_while_queries_are_served(
    world: World,
) -> None:
    source = world.source
    customers = [str(uuid.uuid4()) for _ in range(10)]
    history = [
        source.event(user_events.UserRegistered(user_id=c, display_name=c[:8])) for c in customers
    ]
    for n in range(30):
        customer = customers[n % len(customers)]
        history.append(source.event(placed(f"h-{n}", customer, ("EUR", "USD")[n % 2], 100 + n)))
        if n % 7 == 0:
            history.append(source.event(cancelled(f"h-{n}", customer)))
    await source.publish(history)
    await eventually(world.caught_up, within=30)

    pool = await model_pool(world.postgres, world.service)
    served, failures = 0, []
    stop = asyncio.Event()

    async def keep_querying() -> None:
        nonlocal served
        while not stop.is_set():
            try:
                await world.summary(customers[served % len(customers)])
                served += 1
            except grpc.aio.AioRpcError as error:
                failures.append(error.code())

    try:
        live = await model_rows(pool)
        queries = asyncio.create_task(keep_querying())
        # Events keep arriving until the rebuild is done: the swap must catch them up.
        rebuilding = asyncio.create_task(asyncio.to_thread(rebuild_command, world.service))
        more = 0
        while not rebuilding.done() and more < 5000:
            batch = [
                source.event(placed(f"m-{more + n}", customers[0], "EUR", 1)) for n in range(5)
            ]
            await source.publish(batch)
            more += len(batch)
            await asyncio.sleep(0.005)
        result = await rebuilding
        assert result.returncode == 0, result.stderr
        assert "rebuilt the read model from" in result.stdout
        await eventually(world.caught_up, within=30)
        stop.set()
        await queries
        assert failures == []
        assert served > 0

        after = await model_rows(pool)
        first = await world.summary(customers[0])
        assert first.summary.orders_placed == 3 + more  # history: 3 orders; none lost or doubled
        # Nothing lost, nothing counted twice: a second rebuild of the settled stream
        # gives exactly the model the live projector kept after the first swap.
        again = rebuild_command(world.service)
        assert again.returncode == 0, again.stderr
        assert await model_rows(pool) == after
        # Two swaps later the pruner's index is on the live ids, under the live set's name.
        assert await pruning_indexes(pool) == ["applied_events_processed_at"]
        # And the history part equals what the live projector had built before.
        assert [row for row in after[0] if row[0] != customers[0]] == [
            row for row in live[0] if row[0] != customers[0]
        ]
    finally:
        stop.set()
        await pool.close()


async def test_two_consumers_meeting_a_new_customer_at_once_lose_no_update(
    postgres: Postgres,
) -> None:
    """The order and the user consumer run concurrently; each write waits for the other."""
    customer = str(uuid.uuid4())
    async with schema_pool(postgres) as pool:
        async with pool.acquire() as connection:
            await create_tables(connection)
        now = datetime.now(UTC)
        async with pool.acquire() as first, pool.acquire() as second:
            order_applied = first.transaction()
            await order_applied.start()
            await apply_event(
                first,
                consumer="reporting-orders",
                event_id="e-1",
                stream=ORDER_EVENTS.name,
                sequence=1,
                event_time=now,
                fact=OrderPlaced("o-1", customer, "EUR", 700, now),
            )

            async def name_it() -> None:
                async with second.transaction():
                    await apply_event(
                        second,
                        consumer="reporting-users",
                        event_id="e-2",
                        stream=USER_EVENTS.name,
                        sequence=1,
                        event_time=now,
                        fact=CustomerNamed(customer, "Grace"),
                    )

            naming = asyncio.create_task(name_it())
            await asyncio.sleep(0.3)  # let the second transaction reach the row first
            await order_applied.commit()
            await naming
        row = await pool.fetchrow(
            "SELECT display_name, orders_placed, spent::text FROM customer_summaries"
        )
    assert row is not None
    assert tuple(row) == ("Grace", 1, '{"EUR": 700}')


async def test_a_swap_waits_behind_a_projector_mid_event_instead_of_deadlocking(
    postgres: Postgres,
) -> None:
    """The projector has recorded an event's id and is about to write its summary when a
    rebuild locks the live set; locking in another order than the projector writes would
    make PostgreSQL abort one of them (the full suite once saw it)."""
    async with schema_pool(postgres) as pool:
        async with pool.acquire() as connection:
            await create_tables(connection)
        async with pool.acquire() as projector, pool.acquire() as rebuilder:
            mid_event = projector.transaction()
            await mid_event.start()
            assert await record_once(projector, "reporting-orders", "e-1", table=APPLIED)

            async def swap_lock() -> None:
                async with rebuilder.transaction():
                    await lock_live_set(rebuilder)

            swapping = asyncio.create_task(swap_lock())
            await asyncio.sleep(0.3)  # the swap is now queued for the live set's locks
            assert not swapping.done()
            await projector.execute(
                "INSERT INTO customer_summaries (customer_id) VALUES ($1)", "c-1"
            )
            await mid_event.commit()
            await asyncio.wait_for(swapping, timeout=10)
        assert await pool.fetchval("SELECT count(*) FROM customer_summaries") == 1


async def test_the_edge_serves_the_summary_as_rest_to_its_owner_only(
    world: World, tmp_path: Path
) -> None:
    customer, stranger = str(uuid.uuid4()), str(uuid.uuid4())
    await world.source.publish([world.source.event(placed("o-9", customer, "EUR", 4200))])
    await eventually(world.caught_up, within=30)
    mesh = edge_mesh([free_port()], reporting_ports=[world.service.port])
    path = f"/v1/customers/{customer}/summary"
    with running_envoy(mesh, tmp_path / "edge") as edge:

        def as_user(subject: str) -> dict[str, str]:
            return {"authorization": f"Bearer {edge.token(subject)}"}

        async def served() -> bool:
            reply = await asyncio.to_thread(edge.request, "GET", path, None, as_user(customer))
            return reply.status == 200

        await eventually(served, within=30)  # until Envoy's health check admits the upstream
        body = (await asyncio.to_thread(edge.request, "GET", path, None, as_user(customer))).json()
        assert body["summary"]["orders_placed"] == "1"
        assert body["summary"]["total_spent"] == [{"currency_code": "EUR", "amount_minor": "4200"}]
        assert body["freshness"][0]["stream"] == ORDER_EVENTS.name
        assert int(body["freshness"][0]["sequence"]) >= 1
        anonymous = await asyncio.to_thread(edge.request, "GET", path)
        assert anonymous.status == 401
        other = await asyncio.to_thread(edge.request, "GET", path, None, as_user(stranger))
        assert other.status == 403
