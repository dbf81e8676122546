"""Pattern 19: health, readiness and graceful shutdown, on the real user service process.

Proven here: grpc.health.v1 per service; readiness turns NOT_SERVING while
PostgreSQL is unreachable and SERVING when it returns; SIGTERM drains, so no
call in flight fails. Envoy's active health checks arrive with the edge (#4).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from tests.support import mesh_tls
from tests.support.postgres import Postgres, start_postgres
from tests.support.service import user_service

pytestmark = pytest.mark.integration


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[Postgres]:
    """A PostgreSQL this test may stop and start without disturbing the others."""
    server = start_postgres(tmp_path)
    yield server
    server.server.stop()


async def test_sigterm_drains_calls_in_flight_and_exits_cleanly(
    postgres: Postgres, tmp_path: Path
) -> None:
    service = user_service(postgres, tmp_path, grace_period="10")
    service.start()
    try:
        async with mesh_tls.aio_channel(service.address) as channel:
            users = v1_grpc.UserServiceStub(channel)
            created = await users.CreateUser(
                v1.CreateUserRequest(email="drain@example.com", display_name="D"), timeout=5
            )
            user_id = created.user.user_id
            schema = service.env["USER_SERVICE_DATABASE_SCHEMA"]
            # Hold the user's row lock so updates stay in flight until we let go.
            blocker = await postgres.connect()
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute(f"SELECT 1 FROM {schema}.users WHERE id = $1 FOR UPDATE", user_id)
            in_flight = [
                asyncio.ensure_future(
                    users.UpdateUser(
                        v1.UpdateUserRequest(user_id=user_id, display_name=f"name {i}"), timeout=15
                    )
                )
                for i in range(10)
            ]
            # Eight is the pool's size: the other two calls wait for a connection.
            await _wait_for_lock_waiters(postgres, 8)
            assert service.process is not None
            service.process.terminate()  # SIGTERM
            await asyncio.sleep(0.5)
            assert not any(call.done() for call in in_flight)
            await transaction.rollback()
            await blocker.close()
            replies = await asyncio.gather(*in_flight)
        assert all(reply.user.user_id == user_id for reply in replies)
        assert service.process.wait(15) == 0
        assert "draining: NOT_SERVING" in service.log()
    finally:
        service.kill()


async def _wait_for_lock_waiters(postgres: Postgres, count: int) -> None:
    """Poll from a connection of its own: inside a transaction, pg_stat_activity is a snapshot."""
    observer = await postgres.connect()
    try:
        async with asyncio.timeout(5):
            query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            while await observer.fetchval(query) < count:
                await asyncio.sleep(0.02)
    finally:
        await observer.close()


def test_readiness_follows_postgres_down_and_back(own_postgres: Postgres, tmp_path: Path) -> None:
    service = user_service(own_postgres, tmp_path)
    service.start()
    try:
        own_postgres.server.stop()
        service.wait_for_health("NOT_SERVING", timeout=10)
        with (
            mesh_tls.channel(service.address) as channel,
            pytest.raises(grpc.RpcError) as raised,
        ):
            v1_grpc.UserServiceStub(channel).CreateUser(
                v1.CreateUserRequest(email="down@example.com", display_name="D"), timeout=5
            )
        assert raised.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL)
        own_postgres.server.start()
        service.wait_for_health("SERVING", timeout=15)
        with mesh_tls.channel(service.address) as channel:
            created = v1_grpc.UserServiceStub(channel).CreateUser(
                v1.CreateUserRequest(email="back@example.com", display_name="B"), timeout=5
            )
        assert created.user.email == "back@example.com"
    finally:
        assert service.terminate() == 0
