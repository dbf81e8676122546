"""Pattern 6, async messaging basics: facts in the past tense on NATS JetStream, read by a
durable consumer that acks, retries with backoff, and parks poison in a dead-letter stream.

The consumer is the user service's real one (orders per customer, from ORDER_EVENTS);
events are published the way the outbox relay publishes them; NATS and PostgreSQL are real.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import shop
from google.protobuf.message import Message
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy
from nats.js.errors import NotFoundError
from shop.order.events.v1 import events_pb2 as order_events

from protomesh.bus.consumer import DurableConsumer
from protomesh.bus.dead_letters import DELIVERIES, ORIGINAL_MSG_ID, REASON
from protomesh.bus.decoding import DecodedEvent
from protomesh.bus.publisher import JetStreamPublisher, OutgoingEvent
from protomesh.bus.streams import ensure_streams
from protomesh.outbox.naming import schema_version, subject_for
from services.order.streams import ORDER_EVENTS
from services.user.order_counts import (
    EVENT_TYPES,
    SPEC,
    OrderCount,
    OrderCountProjection,
)
from tests.support.consumers import dead_letters, eventually, schema_pool
from tests.support.nats import MESH_STREAMS, Nats, start_nats
from tests.support.postgres import Postgres

pytestmark = pytest.mark.integration

ORDER_COUNTS_SQL = (
    Path(__file__).parents[2] / "services/user/migrations/010_create_customer_order_counts.sql"
).read_text()


def event_messages() -> Iterator[type[Message]]:
    """Every message in every `shop.<context>.events.v<N>` package."""
    for module_info in pkgutil.walk_packages(shop.__path__, "shop."):
        if ".events." in module_info.name and module_info.name.endswith("_pb2"):
            module = importlib.import_module(module_info.name)
            for name in module.DESCRIPTOR.message_types_by_name:
                yield getattr(module, name)


def test_events_are_facts_named_in_the_past_tense() -> None:
    names = [cls.DESCRIPTOR.full_name for cls in event_messages()]
    assert "shop.order.events.v1.OrderPlaced" in names
    assert "shop.user.events.v1.UserRegistered" in names
    # The last word of an event's name is a past participle: OrderPlaced, not PlaceOrder.
    not_facts = [name for name in names if not re.search(r"[a-z](ed|Sent|Paid|Made)$", name)]
    assert not_facts == []


@dataclass
class Mesh:
    client: JetStreamContext
    publisher: JetStreamPublisher
    pool: asyncpg.Pool
    nats: Client

    async def publish(self, message: Message, version: int | None = None) -> str:
        """Publish as the outbox relay does: CloudEvents headers, event id as Nats-Msg-Id."""
        full_name = message.DESCRIPTOR.full_name
        event = OutgoingEvent(
            event_id=str(uuid.uuid4()),
            event_type=full_name,
            schema_version=version or schema_version(full_name),
            subject=subject_for(full_name),
            payload=message.SerializeToString(),
            occurred_at=datetime.now(UTC),
            source="/shop/order",
            aggregate_type="order",
            aggregate_id=getattr(message, "order_id", "x"),
            sequence=0,
        )
        [error] = await self.publisher.publish_all([event])
        assert error is None
        return event.event_id

    async def settled(self) -> bool:
        # The consumer declares itself in the background after start(): on a
        # loaded machine it may not exist yet, which is "not settled", not an error.
        try:
            info = await self.client.consumer_info(ORDER_EVENTS.name, SPEC.durable)
        except NotFoundError:
            return False
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)


@pytest.fixture(scope="module")
def own_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nats]:
    server = start_nats(tmp_path_factory.mktemp("nats-p06"))
    yield server
    server.stop()


@pytest.fixture
async def mesh(own_nats: Nats, postgres: Postgres) -> AsyncIterator[Mesh]:
    """Empty streams and no consumer yet: each test starts from a clean slate."""
    client, js = await own_nats.jetstream("p06")
    await ensure_streams(js, MESH_STREAMS)
    try:
        async with schema_pool(postgres, ORDER_COUNTS_SQL) as pool:
            yield Mesh(js, JetStreamPublisher(client), pool, client)
    finally:
        for stream in MESH_STREAMS:
            await js.delete_stream(stream.name)
        await client.close()


class RecordingHandler:
    """The real order-count handler, with each delivery's number and time noted."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.projection = OrderCountProjection(pool)
        self.deliveries: list[tuple[int, float]] = []

    async def __call__(self, event: DecodedEvent) -> None:
        self.deliveries.append((event.delivery, time.monotonic()))
        await self.projection.handle(event)


def placed(customer: uuid.UUID, order_id: str = "o") -> order_events.OrderPlaced:
    return order_events.OrderPlaced(order_id=order_id, customer_id=str(customer))


async def test_a_durable_consumer_acks_each_event_and_resumes_after_a_restart(
    mesh: Mesh,
) -> None:
    customer = uuid.uuid4()
    counts = OrderCountProjection(mesh.pool)
    first = DurableConsumer(mesh.nats, SPEC, EVENT_TYPES, counts.handle)
    await first.start()
    try:
        await mesh.publish(placed(customer, "o1"))
        await eventually(mesh.settled)
    finally:
        await first.stop()

    await mesh.publish(placed(customer, "o2"))  # published while no consumer runs
    second = DurableConsumer(mesh.nats, SPEC, EVENT_TYPES, counts.handle)
    await second.start()
    try:
        await eventually(mesh.settled)
    finally:
        await second.stop()

    assert await counts.count_for(customer) == OrderCount(placed=2, cancelled=0)
    info = await mesh.client.consumer_info(ORDER_EVENTS.name, SPEC.durable)
    assert info.config.durable_name == SPEC.durable
    assert info.config.ack_policy == AckPolicy.EXPLICIT
    assert info.ack_floor.stream_seq == 2  # both acknowledged, neither delivered twice
    assert info.delivered.consumer_seq == 2


async def test_a_failed_event_is_redelivered_with_growing_backoff_until_it_succeeds(
    mesh: Mesh,
) -> None:
    customer = uuid.uuid4()
    handler = RecordingHandler(mesh.pool)
    consumer = DurableConsumer(mesh.nats, SPEC, EVENT_TYPES, handler)
    # The projection's table is away (a bad deploy, a lock timeout): the handler fails.
    await mesh.pool.execute("ALTER TABLE customer_order_counts RENAME TO away")
    await consumer.start()
    try:
        await mesh.publish(placed(customer))

        async def delivered_twice() -> bool:
            return len(handler.deliveries) >= 2

        await eventually(delivered_twice)
        await mesh.pool.execute("ALTER TABLE away RENAME TO customer_order_counts")
        await eventually(mesh.settled)
    finally:
        await consumer.stop()

    assert [number for number, _ in handler.deliveries] == [1, 2, 3]
    times = [moment for _, moment in handler.deliveries]
    first_wait, second_wait = SPEC.backoff[0], SPEC.backoff[1]
    assert second_wait > first_wait
    assert times[1] - times[0] >= first_wait * 0.9
    assert times[2] - times[1] >= second_wait * 0.9
    assert await OrderCountProjection(mesh.pool).count_for(customer) == OrderCount(1, 0)


async def test_poison_messages_go_to_the_dead_letter_stream_and_the_consumer_keeps_going(
    mesh: Mesh,
) -> None:
    customer = uuid.uuid4()
    counts = OrderCountProjection(mesh.pool)
    # Quick retries so the test can also outlast max deliveries in a moment.
    spec = dataclasses.replace(SPEC, backoff=(0.1,), max_deliver=2)

    async def handle(event: DecodedEvent) -> None:
        if getattr(event.message, "order_id", "") == "always-failing":
            raise ConnectionError("the projection's database keeps failing")
        await counts.handle(event)

    consumer = DurableConsumer(mesh.nats, spec, EVENT_TYPES, handle)
    await consumer.start()
    try:
        garbage = OutgoingEvent(
            event_id=str(uuid.uuid4()),
            event_type="shop.order.events.v1.OrderPlaced",
            schema_version=1,
            subject=subject_for("shop.order.events.v1.OrderPlaced"),
            payload=b"\xff\xff not protobuf",
            occurred_at=datetime.now(UTC),
            source="/shop/order",
            aggregate_type="order",
            aggregate_id="g",
            sequence=0,
        )
        assert await mesh.publisher.publish_all([garbage]) == [None]
        from_v2 = await mesh.publish(placed(customer, "v2"), version=2)
        not_a_customer = await mesh.publish(
            order_events.OrderPlaced(order_id="x", customer_id="nobody")
        )
        good = await mesh.publish(placed(customer, "good"))
        failing = await mesh.publish(placed(uuid.uuid4(), "always-failing"))
        await eventually(mesh.settled)
    finally:
        await consumer.stop()

    assert await counts.count_for(customer) == OrderCount(placed=1, cancelled=0)
    parked = await dead_letters(mesh.client, "dlq.order.events.>", expected=4)
    reasons = {msg.headers[ORIGINAL_MSG_ID]: msg.headers for msg in parked if msg.headers}
    assert good not in reasons
    assert "not a valid shop.order.events.v1.OrderPlaced" in reasons[garbage.event_id][REASON]
    assert "unknown major schema version 2" in reasons[from_v2][REASON]
    assert "is not a UUID" in reasons[not_a_customer][REASON]
    poison = (garbage.event_id, from_v2, not_a_customer)
    assert {reasons[event][DELIVERIES] for event in poison} == {"1"}  # parked at once
    # A handler that keeps failing is retried, then parked after its last delivery.
    assert reasons[failing][DELIVERIES] == "2"
    assert "handler failed on all 2 deliveries" in reasons[failing][REASON]
    assert all(msg.subject == "dlq.order.events.v1.OrderPlaced" for msg in parked)
