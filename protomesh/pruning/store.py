"""The pruner's port on PostgreSQL: one replica at a time, one bounded DELETE at a time.

A round holds a session advisory lock keyed by the schema, taken with
`pg_try_advisory_lock`: replicas whose timers fire together do not queue
behind each other, the ones that lose skip the round. Each DELETE is its own
short transaction of at most `limit` rows, picked by ctid from a subquery
with `FOR UPDATE SKIP LOCKED`, so it never waits on a row a live transaction
holds (an idempotency key being claimed) and never holds many locks long.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

import asyncpg

from protomesh.db.session_state import session_connection
from protomesh.pruning.targets import PruneTarget

_LOCK = "hashtext('protomesh.prune:' || current_schema())"


class Deleter(Protocol):
    async def delete_expired(self, target: PruneTarget, limit: int) -> int:
        """Delete up to `limit` expired rows of `target`; how many went."""
        ...


class PruneStore(Protocol):
    def exclusive(self) -> contextlib.AbstractAsyncContextManager[Deleter | None]:
        """This replica's turn to prune, or None while another replica has it."""
        ...


def delete_statement(target: PruneTarget) -> str:
    # ORDER BY the column: the oldest go first, and the (column) index is used.
    return f"""
DELETE FROM {target.table} WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM {target.table}
    WHERE {target.column} < now() - make_interval(secs => $2)
    ORDER BY {target.column} LIMIT $1 FOR UPDATE SKIP LOCKED))
"""


class _Session:
    def __init__(self, connection: asyncpg.pool.PoolConnectionProxy) -> None:
        self._connection = connection

    async def delete_expired(self, target: PruneTarget, limit: int) -> int:
        status = await self._connection.execute(delete_statement(target), limit, target.keep)
        return int(status.rsplit(" ", 1)[-1])


class PostgresPruneStore:
    """Prunes the tables in the pool's schema (its search_path)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[Deleter | None]:
        # The session lock outlives the DELETEs' transactions: a session connection.
        async with session_connection(self._pool) as connection:
            if not await connection.fetchval(f"SELECT pg_try_advisory_lock({_LOCK})"):
                yield None
                return
            try:
                yield _Session(connection)
            finally:
                # A broken connection took its session lock with it.
                with contextlib.suppress(asyncpg.InterfaceError, OSError):
                    await connection.execute(f"SELECT pg_advisory_unlock({_LOCK})")
