"""Idempotent consumers: an event's effect happens once, however often it is delivered.

JetStream delivers at least once: a redelivery after a lost ack, a relay that
published twice outside the dedupe window, a consumer restarted mid-batch. So
each consuming service records the ids it has handled in a `processed_events`
table in its own schema, and the record and the effect commit in ONE
transaction: either both happen or neither does, and a repeated id finds its
row and does nothing.

Two deliveries of one id racing each other are safe too: the second INSERT
waits on the first's uncommitted row, then sees the conflict and skips.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

TABLE = "processed_events"

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
Effect = Callable[[asyncpg.pool.PoolConnectionProxy], Awaitable[None]]

_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    consumer     text NOT NULL,
    event_id     text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
-- The pruner deletes the oldest ids past their retention (protomesh.pruning).
CREATE INDEX IF NOT EXISTS {TABLE}_processed_at ON {TABLE} (processed_at);
"""


async def install_processed_events(connection: Connection) -> None:
    """Create the table in the connection's schema if missing (safe at every start).

    Replicas starting together serialise on an advisory lock: concurrent
    `CREATE TABLE IF NOT EXISTS` can otherwise fail on the catalog's unique index.
    """
    async with connection.transaction():
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtext('protomesh.processed:' || current_schema()))"
        )
        await connection.execute(_DDL)


async def handle_once(pool: asyncpg.Pool, consumer: str, event_id: str, effect: Effect) -> bool:
    """Run `effect` and record `event_id` for `consumer` atomically; skip a repeat.

    Returns True when the effect ran now, False when the id was already
    processed. `effect` receives the transaction's connection and must do its
    writes through it.
    """
    async with pool.acquire() as connection, connection.transaction():
        if not await record_once(connection, consumer, event_id):
            return False
        await effect(connection)
        return True


async def record_once(
    connection: Connection, consumer: str, event_id: str, *, table: str = TABLE
) -> bool:
    """Record `event_id` inside the caller's transaction; False if it was recorded before.

    For a consumer whose record must travel with its data: a read model that
    is rebuilt and swapped in keeps its ids in a table of its own (`table`,
    shaped like `processed_events`), swapped with it, so the live consumer
    skips exactly what the rebuilt model already holds.
    """
    first = await connection.fetchval(
        f"INSERT INTO {table} (consumer, event_id) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING RETURNING true",
        consumer,
        event_id,
    )
    return bool(first)
