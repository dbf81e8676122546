"""A pool from protomesh.db.pool.create_pool skips asyncpg's full reset on release,
so nothing a later user could see may ride on a connection it takes back: session
state is kept only on connections marked for the full reset (`session_connection`,
`add_listener`), and the write path's unit of work keeps none.

Each test's pool holds one connection, so the next acquire is the same session
(the backend pid says so)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest
from shop.order.events.v1 import events_pb2

from protomesh.config import Secret
from protomesh.db.pool import create_pool
from protomesh.db.session_state import session_connection
from protomesh.db.unit_of_work import OutboxRecord, PostgresUnitOfWork
from protomesh.idempotency import IdempotentCall, IdempotentReply, install_idempotency
from protomesh.outbox import install_outbox
from protomesh.pruning.store import PostgresPruneStore
from tests.support.postgres import Postgres

pytestmark = pytest.mark.integration

# What a later user would see of the session state left by an earlier one.
_SESSION_STATE = """
SELECT pg_backend_pid() AS pid,
       current_setting('work_mem') AS work_mem,
       (SELECT count(*) FROM pg_listening_channels()) AS listening,
       (SELECT count(*) FROM pg_locks
         WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS advisory_locks,
       (SELECT count(*) FROM pg_settings WHERE source = 'session') AS session_settings
"""


@pytest.fixture
async def pool(postgres: Postgres) -> AsyncIterator[asyncpg.Pool]:
    schema = f"pss_{secrets.token_hex(3)}"
    admin = await postgres.connect()
    await admin.execute(f"CREATE SCHEMA {schema}")
    await admin.close()
    created = await create_pool(
        postgres.admin_dsn,
        password=Secret(postgres.password),
        schema=schema,
        application_name="session-state-test",
        min_size=1,
        max_size=1,
    )
    async with created.acquire() as connection:
        await install_outbox(connection)
        await install_idempotency(connection)
        await connection.execute("CREATE TABLE notes (body text PRIMARY KEY)")
    yield created
    await created.close()


async def state_seen_next(pool: asyncpg.Pool) -> asyncpg.Record:
    row = await pool.fetchrow(_SESSION_STATE)
    assert row is not None
    return row


async def keep_session_state(connection: asyncpg.pool.PoolConnectionProxy) -> int:
    """A SET, a LISTEN and a session advisory lock; returns the backend pid."""
    await connection.execute("SET work_mem = '7MB'")
    await connection.execute("LISTEN pss_channel")
    await connection.execute("SELECT pg_advisory_lock(4242)")
    pid: int = await connection.fetchval("SELECT pg_backend_pid()")
    return pid


async def test_a_session_connection_goes_back_reset_in_full(pool: asyncpg.Pool) -> None:
    clean = await state_seen_next(pool)
    async with session_connection(pool) as connection:
        pid = await keep_session_state(connection)
    seen = await state_seen_next(pool)
    assert seen["pid"] == pid  # the same session...
    # ...with none of it left.
    assert seen["work_mem"] == clean["work_mem"] != "7MB"
    assert (seen["listening"], seen["advisory_locks"], seen["session_settings"]) == (0, 0, 0)


async def test_unmarked_session_state_reaches_the_next_user(pool: asyncpg.Pool) -> None:
    """Why the mark matters: without it, the release does not reset the session.

    (The mutation this guards against: `session_connection` not marking, or
    the pruner taking its lock on a plain `acquire`.)"""
    async with pool.acquire() as connection:
        pid = await keep_session_state(connection)
    seen = await state_seen_next(pool)
    assert seen["pid"] == pid
    assert seen["work_mem"] == "7MB"
    assert (seen["listening"], seen["advisory_locks"]) == (1, 1)
    async with session_connection(pool):
        pass  # and a marked use clears it
    assert (await state_seen_next(pool))["advisory_locks"] == 0


async def test_a_listener_left_behind_is_undone(pool: asyncpg.Pool) -> None:
    """`add_listener` marks its connection: a listener not removed (asyncpg warns)
    does not leave the next user LISTENing."""
    with pytest.warns(asyncpg.InterfaceWarning, match="notification listener"):
        async with pool.acquire() as connection:
            await connection.add_listener("pss_channel", lambda *_: None)
    assert (await state_seen_next(pool))["listening"] == 0


async def test_an_open_transaction_is_rolled_back_with_what_it_held(pool: asyncpg.Pool) -> None:
    """A transaction left open (a bug, or a cancelled call) ends at release: its SET
    LOCAL, its transaction advisory lock and its rows go with it."""
    async with pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("SET LOCAL work_mem = '7MB'")
        await connection.execute("SELECT pg_advisory_xact_lock(4242)")
        await connection.execute("INSERT INTO notes (body) VALUES ('left open')")
    seen = await state_seen_next(pool)
    assert seen["work_mem"] != "7MB"
    assert seen["advisory_locks"] == 0
    assert await pool.fetchval("SELECT count(*) FROM notes") == 0


class NotesUnitOfWork(PostgresUnitOfWork[str, str]):
    def __init__(self, pool: asyncpg.Pool, reply: IdempotentReply[str] | None) -> None:
        super().__init__(
            pool,
            to_outbox=lambda note: OutboxRecord(
                "note", note, 1, events_pb2.OrderCancelled(order_id=note)
            ),
            reply=reply,
            retention=60,
        )


@pytest.mark.parametrize("commits", [True, False])
async def test_the_unit_of_work_leaves_no_session_state(pool: asyncpg.Pool, commits: bool) -> None:
    """The write path's unit of work (a keyed call: claim, event, reply, commit and
    the NOTIFY after it; or a rollback) hands back a clean session."""
    clean = await state_seen_next(pool)
    call = IdempotentCall(secrets.token_hex(4), "internal", "/pkg.Notes/Add", b"req")
    async with NotesUnitOfWork(pool, IdempotentReply(call, str.encode)) as uow:
        await uow.connection.execute("INSERT INTO notes (body) VALUES ('n')")
        uow.publish("n")
        if commits:
            await uow.commit("n")
    seen = await state_seen_next(pool)
    assert seen["pid"] == clean["pid"]
    assert dict(seen) == dict(clean)
    assert await pool.fetchval("SELECT count(*) FROM notes") == (1 if commits else 0)


async def test_the_pruner_hands_back_its_session_lock(pool: asyncpg.Pool) -> None:
    store = PostgresPruneStore(pool)
    async with store.exclusive() as deleter:
        assert deleter is not None
    assert (await state_seen_next(pool))["advisory_locks"] == 0
