"""The outbox table, created in the schema of the connection's search path.

One row per event, written in the business transaction that caused it. The
relay claims unpublished rows in insertion order (`position`), publishes them,
and sets `published_at` in the same transaction. Per-aggregate order rests on
`UNIQUE (aggregate_id, sequence)`: an aggregate's events are numbered by the
writer, and the relay never publishes sequence n+1 while n is unpublished.
"""

from __future__ import annotations

import asyncpg

TABLE = "outbox"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id             uuid PRIMARY KEY,
    position       bigint GENERATED ALWAYS AS IDENTITY,
    aggregate_type text NOT NULL CHECK (length(aggregate_type) BETWEEN 1 AND 200),
    aggregate_id   text NOT NULL CHECK (length(aggregate_id) BETWEEN 1 AND 200),
    sequence       bigint NOT NULL CHECK (sequence >= 0),
    event_type     text NOT NULL,
    schema_version integer NOT NULL CHECK (schema_version >= 1),
    subject        text NOT NULL,
    payload        bytea NOT NULL,
    headers        jsonb NOT NULL DEFAULT '{{}}'::jsonb,
    occurred_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at   timestamptz,
    CONSTRAINT {TABLE}_aggregate_sequence_unique UNIQUE (aggregate_id, sequence)
);
-- The relay's work queue: only unpublished rows, in insertion order.
CREATE INDEX IF NOT EXISTS {TABLE}_unpublished ON {TABLE} (position)
    WHERE published_at IS NULL;
-- Retention clean-up finds expired published rows without scanning the table.
CREATE INDEX IF NOT EXISTS {TABLE}_published_at ON {TABLE} (published_at)
    WHERE published_at IS NOT NULL;
"""


async def install_outbox(
    connection: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
) -> None:
    """Create the outbox table and its indexes if missing (safe to call at every start).

    Replicas starting together serialise on an advisory lock: concurrent
    `CREATE TABLE IF NOT EXISTS` can otherwise fail on the catalog's unique index.
    """
    async with connection.transaction():
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtext('protomesh.outbox:' || current_schema()))"
        )
        await connection.execute(_DDL)
