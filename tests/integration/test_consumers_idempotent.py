"""Idempotent consumers on the real PostgreSQL and NATS: one effect per event id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from shop.order.events.v1 import events_pb2

from protomesh.bus.consumer import ConsumerSpec, DurableConsumer
from protomesh.bus.decoding import DecodedEvent, EventTypes
from protomesh.bus.processed import Effect, handle_once
from protomesh.bus.streams import DEAD_LETTERS
from tests.support.consumers import eventually, publish_event, schema_pool
from tests.support.nats import Nats, declare, unique_stream
from tests.support.postgres import Postgres

pytestmark = pytest.mark.integration

EFFECTS = "CREATE TABLE effects (event_id text NOT NULL, order_id text NOT NULL)"


@pytest.fixture
async def pool(postgres: Postgres) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(postgres, EFFECTS) as pool:
        yield pool


def insert_effect(event_id: str, order_id: str = "o") -> Effect:
    async def effect(connection: asyncpg.pool.PoolConnectionProxy) -> None:
        await connection.execute("INSERT INTO effects VALUES ($1, $2)", event_id, order_id)

    return effect


async def effects(pool: asyncpg.Pool) -> list[str]:
    return [row[0] for row in await pool.fetch("SELECT event_id FROM effects ORDER BY 1")]


async def test_a_repeated_event_id_has_no_second_effect(pool: asyncpg.Pool) -> None:
    assert await handle_once(pool, "c", "e1", insert_effect("e1")) is True
    assert await handle_once(pool, "c", "e1", insert_effect("e1")) is False
    assert await effects(pool) == ["e1"]


async def test_each_consumer_gets_its_own_effect_of_one_event(pool: asyncpg.Pool) -> None:
    assert await handle_once(pool, "a", "e1", insert_effect("e1")) is True
    assert await handle_once(pool, "b", "e1", insert_effect("e1")) is True
    assert await effects(pool) == ["e1", "e1"]


async def test_concurrent_deliveries_of_one_event_have_one_effect(pool: asyncpg.Pool) -> None:
    results = await asyncio.gather(
        *(handle_once(pool, "c", "same", insert_effect("same")) for _ in range(4))
    )
    assert sorted(results) == [False, False, False, True]
    assert await effects(pool) == ["same"]


async def test_a_failed_effect_records_nothing_so_the_retry_runs_it(pool: asyncpg.Pool) -> None:
    async def failing(connection: asyncpg.pool.PoolConnectionProxy) -> None:
        await connection.execute("INSERT INTO effects VALUES ('e2', 'half')")
        raise RuntimeError("the effect failed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        await handle_once(pool, "c", "e2", failing)
    assert await effects(pool) == []
    assert await handle_once(pool, "c", "e2", insert_effect("e2")) is True
    assert await effects(pool) == ["e2"]


async def test_redelivered_and_republished_events_have_one_effect_through_the_consumer(
    nats: Nats, pool: asyncpg.Pool
) -> None:
    client, js = await nats.jetstream("idempotent-consumer")
    stream = unique_stream("order")
    await declare(client, stream, DEAD_LETTERS)
    subject = stream.subjects[0].removesuffix(">") + "v1.OrderPlaced"
    lose_first_ack = {"lost-ack"}

    async def handler(event: DecodedEvent) -> None:
        assert isinstance(event.message, events_pb2.OrderPlaced)
        await handle_once(pool, "orders", event.id, insert_effect(event.id))
        if event.message.order_id in lose_first_ack:
            lose_first_ack.clear()
            raise ConnectionError("committed, but the ack never reached JetStream")

    spec = ConsumerSpec(
        stream=stream.name,
        durable="idempotent",
        filter_subject=stream.subjects[0],
        backoff=(0.1,),
        fetch_wait=0.3,
    )
    consumer = DurableConsumer(client, spec, EventTypes([events_pb2.OrderPlaced]), handler)
    await consumer.start()
    async with asyncio.timeout(10):  # declared in the background; asked about below
        await consumer.wait_attached()
    try:
        redelivered = await publish_event(js, subject, events_pb2.OrderPlaced(order_id="lost-ack"))
        # The relay re-publishing one event outside the dedupe window: two stream messages.
        twice = await publish_event(js, subject, events_pb2.OrderPlaced(order_id="twice"))
        await publish_event(
            js, subject, events_pb2.OrderPlaced(order_id="twice"), twice, msg_id=False
        )

        async def settled() -> bool:
            info = await js.consumer_info(stream.name, "idempotent")
            return bool(info.num_pending == 0 and info.num_ack_pending == 0)

        await eventually(settled)
        info = await js.stream_info(stream.name)
        assert info.state.messages == 3
        consumer_info = await js.consumer_info(stream.name, "idempotent")
        assert consumer_info.delivered.consumer_seq == 4  # three messages, one redelivery
        assert await effects(pool) == sorted([redelivered, twice])
    finally:
        await consumer.stop()
        await client.close()
