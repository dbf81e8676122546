"""Open a service's own database at start: a pool as its own role, then its migrations.

Every PostgreSQL-backed service starts the same way, so the order of the
steps lives here once: pool, then migrations and the runtime's own tables
(outbox, idempotency keys, processed events) in the service's schema. The
role and schema already exist (`protomesh db provision` made them); the
role owns the schema, so it can migrate it, and can touch nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import asyncpg

from protomesh.db.migrations import migrate
from protomesh.db.pool import create_pool
from protomesh.db.settings import DatabaseSettings

Install = Callable[[asyncpg.pool.PoolConnectionProxy], Awaitable[None]]


async def open_service_database(
    settings: DatabaseSettings,
    *,
    application_name: str,
    migrations: Path,
    installs: Sequence[Install] = (),
) -> asyncpg.Pool:
    pool = await create_pool(
        settings.database_url,
        password=settings.database_password,
        schema=settings.database_schema,
        application_name=application_name,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
    )
    async with pool.acquire() as connection:
        await migrate(connection, settings.database_schema, migrations)
        for install in installs:
            await install(connection)
    return pool
