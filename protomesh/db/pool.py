"""asyncpg pools bound to one service's schema."""

from __future__ import annotations

import functools

import asyncpg

from protomesh.config import Secret
from protomesh.db.session_state import PooledConnection, reset_on_release
from protomesh.telemetry.metrics import watch_pool


async def create_pool(
    dsn: str,
    *,
    password: Secret | None,
    schema: str,
    application_name: str,
    min_size: int = 1,
    max_size: int = 8,
    command_timeout: float = 10.0,
) -> asyncpg.Pool:
    """A pool whose connections see only `schema` first on their search path.

    The password is passed separately, never embedded in the DSN, so the DSN can
    be logged and shown by `status` without leaking it. Its usage is exposed
    as `db_pool_connections{pool="<schema>"}` on the service's metrics port.
    A connection goes back without asyncpg's full reset unless it kept session
    state (`protomesh.db.session_state`): one round trip less per release.
    """
    pool = await asyncpg.create_pool(
        dsn,
        password=password.reveal() if password else None,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout,
        server_settings={"search_path": schema, "application_name": application_name},
        connection_class=PooledConnection,
        reset=reset_on_release,
        init=functools.partial(_mark_schema, schema),
    )
    assert pool is not None
    watch_pool(schema, pool.get_size, pool.get_idle_size, pool.get_max_size())
    return pool


async def _mark_schema(schema: str, connection: asyncpg.Connection) -> None:
    if isinstance(connection, PooledConnection):
        connection.pool_schema = schema


class PostgresProbe:
    """Readiness probe on a connection of its own, outside the service's pool.

    Probing through the pool would report a busy pool (every connection in use)
    as "PostgreSQL is down" and take a loaded but healthy replica out of
    rotation. One dedicated connection asks the real question: does the server
    answer? It reconnects after any failure.
    """

    def __init__(self, dsn: str, password: Secret | None) -> None:
        self._dsn = dsn
        self._password = password.reveal() if password else None
        self._connection: asyncpg.Connection | None = None

    async def __call__(self) -> None:
        try:
            if self._connection is None or self._connection.is_closed():
                self._connection = await asyncpg.connect(self._dsn, password=self._password)
            await self._connection.fetchval("SELECT 1")
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.terminate()
            self._connection = None
