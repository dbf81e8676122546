"""After a commit, an awake relay of the schema in this process is woken directly,
with no NOTIFY; otherwise (none here, not awake, inside a transaction) the NOTIFY
goes out as before. On the real PostgreSQL, with the outbox's pool from create_pool.

Notifications from one session arrive in the order sent, so "no NOTIFY" is shown
by a marker sent after it arriving first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from protomesh.outbox import local_wake, notify_relay
from tests.support.outbox import ScratchOutbox, create_outbox
from tests.support.postgres import Postgres

pytestmark = pytest.mark.integration

MARKER = "marker"


@pytest.fixture
async def outbox(postgres: Postgres) -> AsyncIterator[ScratchOutbox]:
    created = await create_outbox(postgres)
    yield created
    await created.close()


class Relay:
    """Stands for an in-process relay: counts wake-ups, awake or not."""

    def __init__(self, *, awake: bool) -> None:
        self.awake = awake
        self.woken = 0

    def wake(self) -> bool:
        if self.awake:
            self.woken += 1
        return self.awake


async def notifications_after(
    outbox: ScratchOutbox, postgres: Postgres, *, in_transaction: bool
) -> list[str]:
    """What a LISTENing relay elsewhere receives from one `notify_relay`, up to the marker."""
    received: asyncio.Queue[str] = asyncio.Queue()
    listener = await postgres.connect()
    try:
        await listener.add_listener(
            "protomesh_outbox", lambda _c, _p, _ch, payload: received.put_nowait(str(payload))
        )
        async with outbox.pool.acquire() as connection:
            if in_transaction:
                async with connection.transaction():
                    await notify_relay(connection)
            else:
                await notify_relay(connection)
            await connection.execute("SELECT pg_notify('protomesh_outbox', $1)", MARKER)
        payloads = []
        async with asyncio.timeout(5):
            while (payload := await received.get()) != MARKER:
                payloads.append(payload)
        return payloads
    finally:
        await listener.close()


async def test_an_awake_relay_here_is_woken_without_a_notify(
    outbox: ScratchOutbox, postgres: Postgres
) -> None:
    relay = Relay(awake=True)
    withdraw = local_wake.register(outbox.database.schema, relay.wake)
    try:
        assert await notifications_after(outbox, postgres, in_transaction=False) == []
    finally:
        withdraw()
    assert relay.woken == 1
    # Withdrawn (the relay stopped): the NOTIFY again.
    assert await notifications_after(outbox, postgres, in_transaction=False) == [
        outbox.database.schema
    ]


async def test_a_relay_not_awake_gets_the_notify(outbox: ScratchOutbox, postgres: Postgres) -> None:
    relay = Relay(awake=False)
    withdraw = local_wake.register(outbox.database.schema, relay.wake)
    try:
        assert await notifications_after(outbox, postgres, in_transaction=False) == [
            outbox.database.schema
        ]
    finally:
        withdraw()


async def test_inside_a_transaction_the_notify_waits_for_the_commit(
    outbox: ScratchOutbox, postgres: Postgres
) -> None:
    """A wake-up now would come before the rows are visible: the NOTIFY, delivered
    by PostgreSQL at the commit, is the only right signal there."""
    relay = Relay(awake=True)
    withdraw = local_wake.register(outbox.database.schema, relay.wake)
    try:
        assert await notifications_after(outbox, postgres, in_transaction=True) == [
            outbox.database.schema
        ]
    finally:
        withdraw()
    assert relay.woken == 0


async def test_a_relay_of_another_schema_is_not_woken(
    outbox: ScratchOutbox, postgres: Postgres
) -> None:
    relay = Relay(awake=True)
    withdraw = local_wake.register("another_service", relay.wake)
    try:
        assert await notifications_after(outbox, postgres, in_transaction=False) == [
            outbox.database.schema
        ]
    finally:
        withdraw()
    assert relay.woken == 0
