"""protomesh.db.unit_of_work on the real PostgreSQL: one transaction for the
change, its outbox events and its idempotent reply, or none of them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from shop.order.events.v1 import events_pb2

from protomesh.db.unit_of_work import OutboxRecord, PostgresUnitOfWork
from protomesh.idempotency import (
    AlreadyAnswered,
    IdempotentCall,
    IdempotentReply,
    KeyReused,
    install_idempotency,
)
from protomesh.outbox import NOTIFY_CHANNEL, install_outbox
from tests.support.postgres import Postgres, fresh_schema_pool

pytestmark = pytest.mark.integration


def noted(note: str) -> OutboxRecord:
    """Each note is its own aggregate's event number 1."""
    return OutboxRecord("note", note, 1, events_pb2.OrderCancelled(order_id=note))


class NotesUnitOfWork(PostgresUnitOfWork[str, str]):
    """A unit over a one-column table; its reply is the note itself."""

    def __init__(self, pool: asyncpg.Pool, reply: IdempotentReply[str] | None = None) -> None:
        super().__init__(pool, to_outbox=noted, reply=reply, retention=60)

    async def add(self, note: str) -> None:
        await self.connection.execute("INSERT INTO notes (body) VALUES ($1)", note)


async def notes_table(connection: asyncpg.pool.PoolConnectionProxy) -> None:
    await connection.execute("CREATE TABLE notes (body text PRIMARY KEY)")


@pytest.fixture
async def pool(postgres: Postgres) -> AsyncIterator[asyncpg.Pool]:
    installs = (install_outbox, install_idempotency, notes_table)
    async with fresh_schema_pool(postgres, *installs, prefix="uow") as pool:
        yield pool


def keyed(key: str, request: bytes = b"req") -> IdempotentReply[str]:
    call = IdempotentCall(key, "internal", "/pkg.Notes/Add", request)
    return IdempotentReply(call, lambda note: f"reply:{note}".encode())


async def write(pool: asyncpg.Pool, note: str, reply: IdempotentReply[str] | None = None) -> None:
    async with NotesUnitOfWork(pool, reply) as uow:
        await uow.add(note)
        uow.publish(note)
        await uow.commit(note)


async def counts(pool: asyncpg.Pool) -> tuple[int, int, int]:
    """(notes, outbox events, idempotency keys)."""
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM notes), (SELECT count(*) FROM outbox),"
        " (SELECT count(*) FROM idempotency_keys)"
    )
    assert row is not None
    return row[0], row[1], row[2]


async def test_a_commit_writes_the_change_its_event_and_its_reply_then_wakes_the_relay(
    pool: asyncpg.Pool, postgres: Postgres
) -> None:
    woken: asyncio.Queue[str] = asyncio.Queue()
    listener = await postgres.connect()  # as a relay listens: on a connection of its own
    await listener.add_listener(NOTIFY_CHANNEL, lambda *args: woken.put_nowait(args[-1]))
    try:
        await write(pool, "first", keyed("k1"))
        schema = await asyncio.wait_for(woken.get(), timeout=5)
    finally:
        await listener.close()
    assert schema.startswith("uow_")
    assert await counts(pool) == (1, 1, 1)
    event = await pool.fetchrow("SELECT aggregate_type, aggregate_id, sequence FROM outbox")
    assert tuple(event or ()) == ("note", "first", 1)
    reply = await pool.fetchval("SELECT response FROM idempotency_keys WHERE key = 'k1'")
    assert reply == b"reply:first"


async def test_leaving_without_a_commit_leaves_nothing_and_frees_the_key(
    pool: asyncpg.Pool,
) -> None:
    async def refused() -> None:
        async with NotesUnitOfWork(pool, keyed("k2")) as uow:
            await uow.add("lost")
            uow.publish("lost")
            raise RuntimeError("refused by the domain")

    with pytest.raises(RuntimeError, match="refused"):
        await refused()
    assert await counts(pool) == (0, 0, 0)
    await write(pool, "retried", keyed("k2"))  # the same key may be retried after a failure
    assert await counts(pool) == (1, 1, 1)
    assert pool.get_idle_size() == pool.get_size()  # every connection went back


async def test_a_repeat_is_answered_on_entering_and_another_request_is_refused(
    pool: asyncpg.Pool,
) -> None:
    await write(pool, "once", keyed("k3"))
    with pytest.raises(AlreadyAnswered) as answered:
        await write(pool, "once", keyed("k3"))
    assert answered.value.response == b"reply:once"
    with pytest.raises(AlreadyAnswered):
        await NotesUnitOfWork(pool, keyed("k3")).raise_if_answered()
    with pytest.raises(KeyReused):
        await write(pool, "other", keyed("k3", b"another request"))
    assert await counts(pool) == (1, 1, 1)
    assert pool.get_idle_size() == pool.get_size()


async def test_concurrent_duplicates_make_one_change(pool: asyncpg.Pool) -> None:
    key = str(uuid.uuid4())
    results = await asyncio.gather(
        *(write(pool, "raced", keyed(key)) for _ in range(4)), return_exceptions=True
    )
    answered = [r for r in results if isinstance(r, AlreadyAnswered)]
    assert results.count(None) == 1
    assert [a.response for a in answered] == [b"reply:raced"] * 3
    assert await counts(pool) == (1, 1, 1)


async def test_the_unit_refuses_to_be_used_outside_its_block(pool: asyncpg.Pool) -> None:
    with pytest.raises(RuntimeError, match="outside"):
        _ = NotesUnitOfWork(pool).connection
