"""Pattern 8: data ownership, enforced by PostgreSQL itself.

Proven here: the user and order services, started as real processes, each
create their own login role and schema in one PostgreSQL; logged in as the
order service's role, a query of the user schema is answered "permission
denied" by the database, and the same holds the other way round. Each role
still reads its own schema. Without the pattern (a shared role or schema, or
grants to PUBLIC) these queries would succeed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.support.order_service import role_of
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.integration


async def login(postgres: Postgres, service: ServiceProcess, prefix: str) -> asyncpg.Connection:
    role, password = role_of(service, prefix)
    return await asyncpg.connect(postgres.dsn_for(role), password=password)


@pytest.fixture
async def as_order(
    postgres: Postgres, services: tuple[ServiceProcess, ServiceProcess]
) -> AsyncIterator[asyncpg.Connection]:
    connection = await login(postgres, services[1], "ORDER_SERVICE_")
    yield connection
    await connection.close()


@pytest.fixture
async def as_user(
    postgres: Postgres, services: tuple[ServiceProcess, ServiceProcess]
) -> AsyncIterator[asyncpg.Connection]:
    connection = await login(postgres, services[0], "USER_SERVICE_")
    yield connection
    await connection.close()


def schema(service: ServiceProcess, prefix: str) -> str:
    return service.env[f"{prefix}DATABASE_SCHEMA"]


async def test_the_order_role_cannot_read_the_user_schema(
    as_order: asyncpg.Connection, services: tuple[ServiceProcess, ServiceProcess]
) -> None:
    users_schema = schema(services[0], "USER_SERVICE_")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await as_order.fetch(f"SELECT * FROM {users_schema}.users")
    own = schema(services[1], "ORDER_SERVICE_")
    assert await as_order.fetchval(f"SELECT count(*) FROM {own}.orders") >= 0


async def test_the_user_role_cannot_read_the_order_schema(
    as_user: asyncpg.Connection, services: tuple[ServiceProcess, ServiceProcess]
) -> None:
    orders_schema = schema(services[1], "ORDER_SERVICE_")
    for table in ("orders", "outbox", "idempotency_keys"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await as_user.fetch(f"SELECT * FROM {orders_schema}.{table}")
    own = schema(services[0], "USER_SERVICE_")
    assert await as_user.fetchval(f"SELECT count(*) FROM {own}.users") >= 0


async def test_neither_role_can_write_into_the_other_schema(
    as_order: asyncpg.Connection,
    as_user: asyncpg.Connection,
    services: tuple[ServiceProcess, ServiceProcess],
) -> None:
    users_schema = schema(services[0], "USER_SERVICE_")
    orders_schema = schema(services[1], "ORDER_SERVICE_")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_order.execute(f"CREATE TABLE {users_schema}.stolen (id int)")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_user.execute(f"DELETE FROM {orders_schema}.orders")
