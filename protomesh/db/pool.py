"""asyncpg pools bound to one service's schema."""

from __future__ import annotations

import asyncpg

from protomesh.config import Secret


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
    be logged and shown by `status` without leaking it.
    """
    pool = await asyncpg.create_pool(
        dsn,
        password=password.reveal() if password else None,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout,
        server_settings={"search_path": schema, "application_name": application_name},
    )
    assert pool is not None
    return pool


async def probe(pool: asyncpg.Pool) -> None:
    """Readiness: a round trip to the server, not just a pooled socket."""
    async with pool.acquire() as connection:
        await connection.fetchval("SELECT 1")
