"""Open a service's own database at start: its role and schema, a pool, its migrations.

Every PostgreSQL-backed service starts the same way, so the order of the
steps lives here once: provision (only when an admin DSN is configured),
pool, then migrations and the runtime's own tables (outbox, idempotency
keys, processed events) in the service's schema.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import asyncpg

from protomesh.db.migrations import migrate
from protomesh.db.pool import create_pool
from protomesh.db.provision import provision_from_admin
from protomesh.db.settings import DatabaseSettings

Install = Callable[[asyncpg.pool.PoolConnectionProxy], Awaitable[None]]


async def open_service_database(
    settings: DatabaseSettings,
    *,
    env_prefix: str,
    application_name: str,
    migrations: Path,
    installs: Sequence[Install] = (),
) -> asyncpg.Pool:
    if settings.admin_database_url:
        await provision_from_admin(
            settings.admin_database_url,
            settings.admin_database_password,
            role=settings.database_role,
            password=settings.database_password,
            schema=settings.database_schema,
            password_setting=f"{env_prefix}DATABASE_PASSWORD",
        )
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
