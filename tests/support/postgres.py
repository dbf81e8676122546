"""A real PostgreSQL (the embedded one from pgserver) for a test session or a test."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from protomesh.config import Secret
from protomesh_toolkit.db.provision import ServiceRole, provision
from protomesh_toolkit.embedded.postgres import EmbeddedPostgres
from tests.support.ports import free_port

# Makes tables on a connection: the runtime's `install_*` functions, or a test's own DDL.
Install = Callable[[asyncpg.pool.PoolConnectionProxy], Awaitable[object]]


@dataclass
class Postgres:
    server: EmbeddedPostgres
    password: str
    password_file: Path

    @property
    def admin_dsn(self) -> str:
        return self.server.dsn()

    def dsn_for(self, role: str) -> str:
        return self.server.dsn(user=role)

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.admin_dsn, password=self.password)

    def provision(self, role: str, password: str, schema: str) -> None:
        """Make a service's role and schema as the admin, as `protomesh db provision` does
        before a service starts: the service itself never gets the admin password."""
        provision(
            self.admin_dsn, Secret(self.password), [ServiceRole(role, Secret(password), schema)]
        )


@asynccontextmanager
async def fresh_schema_pool(
    postgres: Postgres, *installs: Install, prefix: str = "t"
) -> AsyncIterator[asyncpg.Pool]:
    """A pool (as the admin) on a schema of its own, with what `installs` make in it.

    A schema per test keeps tests that share the session's PostgreSQL from seeing each
    other's rows, without a database per test.
    """
    schema = f"{prefix}_{secrets.token_hex(4)}"
    admin = await postgres.connect()
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await admin.close()
    pool = await asyncpg.create_pool(
        postgres.admin_dsn,
        password=postgres.password,
        min_size=1,
        max_size=4,
        server_settings={"search_path": schema},
    )
    assert pool is not None
    try:
        async with pool.acquire() as connection:
            for install in installs:
                await install(connection)
        yield pool
    finally:
        await pool.close()


def start_postgres(directory: Path, settings: dict[str, str] | None = None) -> Postgres:
    """`settings` are server options over the defaults (wal_level=logical, ...)."""
    password = secrets.token_urlsafe(16)
    password_file = directory / "admin_password"
    password_file.write_text(password)
    server = EmbeddedPostgres(directory / "data", free_port())
    server.initialise(password)
    server.start(settings=settings)
    return Postgres(server, password, password_file)
