"""Pooled connections that go back without asyncpg's full reset, unless they kept session state.

asyncpg resets every connection its pool takes back with one more round trip,
`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;`. On the
write path that is a round trip per release, two per PlaceOrder (the customer
check and the unit of work), for state that code there never keeps: every
statement of a unit of work runs in its transaction, and what a transaction
holds ends with it (`SET LOCAL`, `set_config(..., true)`,
`pg_advisory_xact_lock`, row locks).

So a pool from `protomesh.db.pool.create_pool` resets a connection in full
only when it kept session state. asyncpg itself still does, on every release
and before this hook, what costs no round trip when there is nothing to do:
it rolls back a transaction left open and drops the connection's listener
callbacks. What survives a release without the full reset is session state:
a plain `SET`, a session advisory lock (`pg_advisory_lock`,
`pg_try_advisory_lock`), a `LISTEN`, an open cursor `WITH HOLD`. Code that
keeps any of these takes its connection with `session_connection(pool)`,
which marks it for the full reset on release; `add_listener` marks its
connection by itself. tests/integration/test_pool_session_state.py shows
both: marked state gone for the next user, unmarked state visible to it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg


class PooledConnection(asyncpg.Connection):
    """An asyncpg connection that remembers whether it kept session state."""

    _keeps_session_state = False
    # The schema its pool was made for (`create_pool` sets it on each new connection):
    # the outbox writer wakes a relay of that schema in this process by it.
    pool_schema: str | None = None

    def keep_session_state(self) -> None:
        """Reset this connection in full when the pool takes it back."""
        self._keeps_session_state = True

    async def add_listener(self, channel: str, callback: Any) -> None:
        # LISTEN outlives the transaction: the next user would receive the channel.
        self.keep_session_state()
        await super().add_listener(channel, callback)

    async def reset_kept_state(self) -> None:
        if self._keeps_session_state:
            self._keeps_session_state = False
            await self.execute(self.get_reset_query())


async def reset_on_release(connection: asyncpg.Connection) -> None:
    """The pool's `reset` hook: the full reset for a connection that kept session state.

    asyncpg has already rolled back an open transaction when it calls this. A
    failure here makes the pool terminate the connection, so no state passes on.
    """
    if isinstance(connection, PooledConnection):
        await connection.reset_kept_state()
    else:  # not one of ours: asyncpg's own full reset, as without the hook
        await connection.execute(connection.get_reset_query())


@contextlib.asynccontextmanager
async def session_connection(
    pool: asyncpg.Pool,
) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
    """A pooled connection for code that keeps session state; reset in full on release.

    With a pool not made by `create_pool` (asyncpg's default reset, in full on
    every release) there is nothing to mark.
    """
    async with pool.acquire() as connection:
        keep = getattr(connection, "keep_session_state", None)
        if keep is not None:
            keep()
        yield connection
