"""What the write-path benchmark runs on, started fresh in a scratch directory.

One embedded PostgreSQL with a service role and schema holding the outbox and
an `orders` table shaped like the order service's; one `nats-server -js` with
the mesh's streams. Both on free loopback ports, stopped by pid at the end,
whatever happens; stand-alone relays started here are stopped the same way.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from protomesh.config import Secret
from protomesh.db.pool import create_pool
from protomesh.outbox import OutboxDatabase, install_outbox
from protomesh.outbox.settings import PREFIX
from protomesh_toolkit.bench.processes import HOST, START_TIMEOUT, BenchProcess, free_port
from protomesh_toolkit.db.provision import provision_service_database
from protomesh_toolkit.embedded.nats import EmbeddedNats
from protomesh_toolkit.embedded.postgres import EmbeddedPostgres

ROLE, SCHEMA = "bench_order", "bench_orders"

# Shaped like the order service's row: the write a PlaceOrder commits beside its event.
ORDERS_DDL = """
CREATE TABLE IF NOT EXISTS orders (
    id          uuid PRIMARY KEY,
    customer_id uuid NOT NULL,
    status      text NOT NULL,
    total_minor bigint NOT NULL,
    currency    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS baseline_rows (
    id          uuid PRIMARY KEY,
    customer_id uuid NOT NULL,
    payload     bytea NOT NULL
);
"""


@dataclass(frozen=True)
class WriteStack:
    database: OutboxDatabase
    postgres: EmbeddedPostgres
    admin_password: str
    nats_url: str
    directory: Path

    @property
    def admin_dsn(self) -> str:
        return self.postgres.dsn()

    def dsn_for(self, role: str) -> str:
        return self.postgres.dsn(user=role)

    async def pool(self, size: int) -> asyncpg.Pool:
        return await create_pool(
            self.database.url,
            password=self.database.password,
            schema=self.database.schema,
            application_name="bench-writer",
            min_size=size,
            max_size=size,
        )

    def start_relay(self, name: str, **settings: str) -> BenchProcess:
        """`python -m protomesh.outbox` for the bench outbox (OUTBOX_RELAY_* `settings`)."""
        password_file = self.directory / "role_password"
        values = {
            "DATABASE_URL": self.database.url,
            "DATABASE_PASSWORD_FILE": str(password_file),
            "DATABASE_SCHEMA": self.database.schema,
            "NATS_URL": self.nats_url,
            "NAME": name,
            "LOG_LEVEL": "warning",
            **{key.upper(): value for key, value in settings.items()},
        }
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
        return BenchProcess(
            name,
            [sys.executable, "-m", "protomesh.outbox"],
            self.directory / f"{name}.log",
            {**inherited, **{PREFIX + k: v for k, v in values.items()}},
        )


@contextlib.contextmanager
def running_write_stack(directory: Path) -> Iterator[WriteStack]:
    with contextlib.ExitStack() as cleanup:
        postgres = EmbeddedPostgres(directory / "pgdata", free_port(), host=HOST)
        admin_password = write_secret(directory / "admin_password")
        postgres.initialise(admin_password)
        postgres.start(START_TIMEOUT)
        cleanup.callback(postgres.stop)
        nats = EmbeddedNats(directory / "jetstream", free_port(), free_port(), host=HOST)
        nats.start(START_TIMEOUT)
        cleanup.callback(nats.stop)
        role_password = write_secret(directory / "role_password")
        database = OutboxDatabase(postgres.dsn(user=ROLE), Secret(role_password), SCHEMA)
        yield WriteStack(database, postgres, admin_password, nats.url, directory)


async def prepare_database(stack: WriteStack) -> None:
    """The role, its schema, the outbox and the benchmark's tables."""
    admin = await asyncpg.connect(stack.admin_dsn, password=stack.admin_password)
    try:
        assert stack.database.password is not None
        await provision_service_database(
            admin, role=ROLE, password=stack.database.password, schema=SCHEMA
        )
    finally:
        await admin.close()
    async with connected(stack) as connection:
        await install_outbox(connection)
        await connection.execute(ORDERS_DDL)


@contextlib.asynccontextmanager
async def connected(stack: WriteStack) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(
        stack.database.url,
        password=stack.database.password.reveal() if stack.database.password else None,
        server_settings={"search_path": SCHEMA},
    )
    try:
        yield connection
    finally:
        await connection.close()


def write_secret(path: Path) -> str:
    """A fresh random secret in a file only its owner may read; returns it."""
    value = secrets.token_urlsafe(16)
    path.write_text(value)
    path.chmod(0o600)
    return value
