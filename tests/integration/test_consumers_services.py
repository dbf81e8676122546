"""The two real consumers, each over its service's migration, the real PostgreSQL and NATS:
the user context's order counts and the order context's customer directory."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from shop.order.events.v1 import events_pb2 as order_events
from shop.user.events.v1 import events_pb2 as user_events

from protomesh.bus.consumer import DurableConsumer
from protomesh.bus.dead_letters import REASON
from protomesh.bus.streams import ensure_streams
from protomesh.outbox.naming import subject_for
from services.order.bootstrap import customer_directory_consumer
from services.order.customer_store import PostgresCustomerDirectory
from services.user.order_counts import OrderCount, OrderCountProjection, order_counts_consumer
from tests.support.consumers import dead_letters, eventually, publish_event, schema_pool
from tests.support.nats import MESH_STREAMS, Nats
from tests.support.postgres import Postgres
from tests.support.service import user_service

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
ORDER_COUNTS_SQL = (
    ROOT / "services/user/migrations/010_create_customer_order_counts.sql"
).read_text()
DIRECTORY_SQL = (ROOT / "services/order/migrations/010_create_customer_directory.sql").read_text()


@pytest.fixture
async def js(own_nats: Nats) -> AsyncIterator[tuple[Client, JetStreamContext]]:
    client, js = await own_nats.jetstream("service-consumers")
    await ensure_streams(js, MESH_STREAMS)
    try:
        yield client, js
    finally:
        await client.close()


async def publish(js: JetStreamContext, message: Message, event_id: str | None = None) -> str:
    return await publish_event(js, subject_for(message.DESCRIPTOR.full_name), message, event_id)


async def settled(js: JetStreamContext, stream: str, durable: str) -> bool:
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:  # declared in the background: not yet
        return False
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


def at(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def test_the_user_service_counts_orders_per_customer_once_per_event(
    postgres: Postgres, js: tuple[Client, JetStreamContext]
) -> None:
    client, stream = js
    ada, bob = uuid.uuid4(), uuid.uuid4()
    async with schema_pool(postgres, ORDER_COUNTS_SQL) as pool:
        consumer = order_counts_consumer(client, pool)
        await consumer.start()
        async with asyncio.timeout(10):  # declared in the background
            await consumer.wait_attached()
        try:
            first = await publish(
                stream, order_events.OrderPlaced(order_id="o1", customer_id=str(ada))
            )
            await publish(stream, order_events.OrderPlaced(order_id="o2", customer_id=str(ada)))
            await publish(stream, order_events.OrderCancelled(order_id="o1", customer_id=str(ada)))
            await publish(stream, order_events.OrderPlaced(order_id="o3", customer_id=str(bob)))
            # The same event again, as a relay re-publish outside the dedupe window would.
            await publish_event(
                stream,
                subject_for("shop.order.events.v1.OrderPlaced"),
                order_events.OrderPlaced(order_id="o1", customer_id=str(ada)),
                first,
                msg_id=False,
            )
            await publish(stream, order_events.OrderPlaced(order_id="o4", customer_id="nobody"))
            await eventually(lambda: settled(stream, "ORDER_EVENTS", consumer.spec.durable))
        finally:
            await consumer.stop()

        counts = OrderCountProjection(pool)
        assert await counts.count_for(ada) == OrderCount(placed=2, cancelled=1)
        assert (await counts.count_for(ada)).open == 1
        assert await counts.count_for(bob) == OrderCount(placed=1, cancelled=0)
        assert await counts.count_for(uuid.uuid4()) == OrderCount(0, 0)
    [parked] = await dead_letters(stream, "dlq.order.events.>", expected=1)
    assert parked.headers is not None
    assert "customer id 'nobody' is not a UUID" in parked.headers[REASON]


async def test_the_order_service_keeps_the_newest_customer_details(
    postgres: Postgres, js: tuple[Client, JetStreamContext]
) -> None:
    client, stream = js
    grace = uuid.uuid4()
    registered = datetime(2026, 1, 1, tzinfo=UTC)
    async with schema_pool(postgres, DIRECTORY_SQL) as pool:
        consumer: DurableConsumer = customer_directory_consumer(client, pool)
        await consumer.start()
        async with asyncio.timeout(10):  # declared in the background
            await consumer.wait_attached()
        try:
            await publish(
                stream,
                user_events.UserRegistered(
                    user_id=str(grace),
                    email="grace@navy.mil",
                    display_name="Grace",
                    occur_time=at(registered),
                ),
            )
            await publish(
                stream,
                user_events.UserProfileChanged(
                    user_id=str(grace),
                    email="grace@hopper.dev",
                    display_name="Grace Hopper",
                    occur_time=at(registered + timedelta(days=2)),
                ),
            )
            # A change that happened earlier but arrives late must not roll the copy back.
            await publish(
                stream,
                user_events.UserProfileChanged(
                    user_id=str(grace),
                    email="old@navy.mil",
                    display_name="Old Grace",
                    occur_time=at(registered + timedelta(days=1)),
                ),
            )
            await eventually(lambda: settled(stream, "USER_EVENTS", consumer.spec.durable))
        finally:
            await consumer.stop()

        customer = await PostgresCustomerDirectory(pool).get(grace)
        assert customer is not None
        assert (customer.display_name, customer.email) == ("Grace Hopper", "grace@hopper.dev")
        assert customer.changed_at == registered + timedelta(days=2)
        assert await PostgresCustomerDirectory(pool).get(uuid.uuid4()) is None
        processed = await pool.fetchval("SELECT count(*) FROM processed_events")
        assert processed == 3


async def test_the_directory_parks_an_event_without_an_occurrence_time(
    postgres: Postgres, js: tuple[Client, JetStreamContext]
) -> None:
    client, stream = js
    async with schema_pool(postgres, DIRECTORY_SQL) as pool:
        consumer = customer_directory_consumer(client, pool)
        await consumer.start()
        async with asyncio.timeout(10):  # declared in the background
            await consumer.wait_attached()
        try:
            event_id = await publish(
                stream,
                user_events.UserRegistered(user_id=str(uuid.uuid4()), email="a@b.c"),
            )
            await eventually(lambda: settled(stream, "USER_EVENTS", consumer.spec.durable))
        finally:
            await consumer.stop()
        rows: list[asyncpg.Record] = await pool.fetch("SELECT * FROM customer_directory")
        assert rows == []
    parked = await dead_letters(stream, "dlq.user.events.>", expected=1)
    reasons = {m.headers["dlq-original-msg-id"]: m.headers[REASON] for m in parked if m.headers}
    assert reasons[event_id] == "rejected by the handler: the event has no occur_time"


async def test_the_user_service_process_runs_the_order_count_consumer_given_nats(
    postgres: Postgres,
    own_nats: Nats,
    js: tuple[Client, JetStreamContext],
    tmp_path: Path,
) -> None:
    _, stream = js
    service = user_service(postgres, tmp_path, nats_url=own_nats.url)
    service.start()
    try:
        customer = uuid.uuid4()
        await publish(stream, order_events.OrderPlaced(order_id="p1", customer_id=str(customer)))
        await publish(stream, order_events.OrderPlaced(order_id="p2", customer_id=str(customer)))
        schema = service.env["USER_SERVICE_DATABASE_SCHEMA"]
        admin = await postgres.connect()
        try:

            async def counted() -> bool:
                placed = await admin.fetchval(
                    f"SELECT placed_count FROM {schema}.customer_order_counts"
                    " WHERE customer_id = $1",
                    customer,
                )
                return bool(placed == 2)

            await eventually(counted, within=30)
        finally:
            await admin.close()
        assert service.terminate() == 0
        assert '"consumer": "user-order-counts"' in service.log()
    finally:
        service.kill()
