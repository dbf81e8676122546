"""Writing to the outbox: inside the business transaction, on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest
from shop.order.events.v1 import events_pb2

from protomesh.outbox import append_event, install_outbox, notify_relay
from tests.support.outbox import ScratchOutbox, create_outbox
from tests.support.postgres import Postgres

pytestmark = pytest.mark.integration


@pytest.fixture
async def outbox(postgres: Postgres) -> AsyncIterator[ScratchOutbox]:
    created = await create_outbox(postgres)
    yield created
    await created.close()


async def test_a_row_holds_the_event_and_its_envelope(outbox: ScratchOutbox) -> None:
    event = events_pb2.OrderPlaced(order_id="o-1", customer_id="c-1")
    async with outbox.pool.acquire() as connection, connection.transaction():
        event_id = await append_event(
            connection,
            aggregate_type="order",
            aggregate_id="o-1",
            sequence=0,
            event=event,
            headers={"traceparent": "00-aa-bb-01"},
        )
    row = await outbox.pool.fetchrow("SELECT * FROM outbox WHERE id = $1", event_id)
    assert row is not None
    assert (row["event_type"], row["schema_version"], row["subject"]) == (
        "shop.order.events.v1.OrderPlaced",
        1,
        "order.events.v1.OrderPlaced",
    )
    assert events_pb2.OrderPlaced.FromString(row["payload"]) == event
    assert json.loads(row["headers"]) == {"traceparent": "00-aa-bb-01"}
    assert row["published_at"] is None


async def test_a_repeated_sequence_rolls_the_business_change_back(outbox: ScratchOutbox) -> None:
    await outbox.write("o-2", 0)
    async with outbox.pool.acquire() as connection:
        await connection.execute("CREATE TABLE IF NOT EXISTS business (id text PRIMARY KEY)")

        async def change_with_a_taken_sequence() -> None:
            async with connection.transaction():
                await connection.execute("INSERT INTO business VALUES ('change')")
                await append_event(
                    connection,
                    aggregate_type="order",
                    aggregate_id="o-2",
                    sequence=0,
                    event=events_pb2.OrderCancelled(order_id="o-2"),
                )

        with pytest.raises(asyncpg.UniqueViolationError):
            await change_with_a_taken_sequence()
        assert await connection.fetchval("SELECT count(*) FROM business") == 0


async def test_installing_is_idempotent_even_when_replicas_start_together(
    outbox: ScratchOutbox,
) -> None:
    async def install() -> None:
        async with outbox.pool.acquire() as connection:
            await install_outbox(connection)

    await asyncio.gather(*(install() for _ in range(4)))
    assert await outbox.unpublished() == 0


async def test_the_notify_never_relaxes_a_business_transactions_durability(
    outbox: ScratchOutbox,
) -> None:
    async with outbox.pool.acquire() as connection:
        async with connection.transaction():
            await notify_relay(connection)
            assert await connection.fetchval("SHOW synchronous_commit") == "on"
        await notify_relay(connection)  # on its own: its own commit skips the flush
        assert await connection.fetchval("SHOW synchronous_commit") == "on"


async def test_a_notify_names_the_schema_so_relays_of_other_services_ignore_it(
    outbox: ScratchOutbox, postgres: Postgres
) -> None:
    received: asyncio.Queue[str] = asyncio.Queue()
    listener = await postgres.connect()
    try:
        await listener.add_listener(
            "protomesh_outbox", lambda _c, _p, _ch, payload: received.put_nowait(payload)
        )
        async with outbox.pool.acquire() as connection:
            await notify_relay(connection)
        async with asyncio.timeout(5):
            assert await received.get() == outbox.database.schema
    finally:
        await listener.close()
