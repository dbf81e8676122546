"""Pattern 8, the event-fed half: the order context keeps its own copy of the customer
data it needs, fed by the user context's events, and never reads the user schema.

Real parts end to end: the user and order services run as processes with a real
NATS; the user service's outbox relay publishes UserRegistered / UserProfileChanged,
and the order service's customer-directory consumer writes them into the order
schema. Logged in as the order role, the copy answers and the user schema is
"permission denied". Without the pattern the order side would have no way to
know a customer's name but to read the user schema (denied) or call the user
service on every read.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from tests.support import mesh_tls
from tests.support.consumers import eventually
from tests.support.nats import Nats
from tests.support.order_service import order_service, role_of
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def services(
    postgres: Postgres, own_nats: Nats, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    directory = tmp_path_factory.mktemp("p08-event-fed")
    users = user_service(postgres, directory, nats_url=own_nats.url)
    users.start()
    try:
        orders = order_service(postgres, directory, users.port, nats_url=own_nats.url)
        orders.start()
        try:
            yield users, orders
        finally:
            orders.kill()
    finally:
        users.kill()


@pytest.fixture
async def as_order(
    postgres: Postgres, services: tuple[ServiceProcess, ServiceProcess]
) -> AsyncIterator[asyncpg.Connection]:
    role, password = role_of(services[1], "ORDER_SERVICE_")
    connection = await asyncpg.connect(postgres.dsn_for(role), password=password)
    yield connection
    await connection.close()


@pytest.fixture
async def user_stub(
    services: tuple[ServiceProcess, ServiceProcess],
) -> AsyncIterator[v1_grpc.UserServiceAsyncStub]:
    async with mesh_tls.aio_channel(services[0].address) as channel:
        yield v1_grpc.UserServiceStub(channel)


def order_copy(services: tuple[ServiceProcess, ServiceProcess]) -> str:
    schema = services[1].env["ORDER_SERVICE_DATABASE_SCHEMA"]
    return f"SELECT display_name, email FROM {schema}.customer_directory WHERE customer_id = $1"


async def test_the_order_service_copies_new_and_changed_customers_from_user_events(
    services: tuple[ServiceProcess, ServiceProcess],
    as_order: asyncpg.Connection,
    user_stub: v1_grpc.UserServiceAsyncStub,
) -> None:
    created = await user_stub.CreateUser(
        v1.CreateUserRequest(email="ada@example.com", display_name="Ada"), timeout=5
    )
    user_id = uuid.UUID(created.user.user_id)
    query = order_copy(services)

    async def copied(expected: tuple[str, str]) -> bool:
        row = await as_order.fetchrow(query, user_id)
        return row is not None and tuple(row) == expected

    await eventually(lambda: copied(("Ada", "ada@example.com")), within=30)
    await user_stub.UpdateUser(
        v1.UpdateUserRequest(user_id=str(user_id), display_name="Ada Lovelace"), timeout=5
    )
    await eventually(lambda: copied(("Ada Lovelace", "ada@example.com")), within=30)


async def test_the_copy_is_the_order_roles_only_view_of_customers(
    services: tuple[ServiceProcess, ServiceProcess],
    as_order: asyncpg.Connection,
    user_stub: v1_grpc.UserServiceAsyncStub,
) -> None:
    created = await user_stub.CreateUser(
        v1.CreateUserRequest(email="grace@example.com", display_name="Grace"), timeout=5
    )
    user_id = uuid.UUID(created.user.user_id)
    query = order_copy(services)

    async def copied() -> bool:
        return await as_order.fetchrow(query, user_id) is not None

    await eventually(copied, within=30)
    assert tuple(await as_order.fetchrow(query, user_id) or ()) == ("Grace", "grace@example.com")
    users_schema = services[0].env["USER_SERVICE_DATABASE_SCHEMA"]
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await as_order.fetchval(
            f"SELECT display_name FROM {users_schema}.users WHERE id = $1", user_id
        )
