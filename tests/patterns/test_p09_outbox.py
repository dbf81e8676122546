"""Pattern 9: the transactional outbox, on the real user service process.

Proven here: the event row is written in the business transaction (a write
that rolls back leaves none); a relay publishes it with the event id as the
NATS message id, woken by LISTEN/NOTIFY (its polling interval here is two
minutes); kill NATS or the relay mid-stream and nothing is lost, nothing is
stored twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from protomesh.bus.streams import ensure_streams
from protomesh.config import Secret
from protomesh.outbox import OutboxDatabase
from services.user.streams import USER_EVENTS
from tests.support import mesh_tls
from tests.support.nats import Nats, start_nats
from tests.support.outbox import eventually, relay_process, stream_messages
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

pytestmark = pytest.mark.integration


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[Nats]:
    """A NATS server this test may kill and start again."""
    server = start_nats(tmp_path / "nats")
    yield server
    server.stop()


@pytest.fixture
async def js(own_nats: Nats) -> AsyncIterator[JetStreamContext]:
    client: Client = await own_nats.connect()
    context = client.jetstream()
    await ensure_streams(context, [USER_EVENTS])
    yield context
    await client.close()


def started(service: ServiceProcess) -> ServiceProcess:
    service.start()
    return service


async def create_users(service: ServiceProcess, count: int, prefix: str) -> list[str]:
    """Register `count` users, ten calls at a time; every call must succeed."""
    async with mesh_tls.aio_channel(service.address) as channel:
        users = v1_grpc.UserServiceStub(channel)
        limit = asyncio.Semaphore(10)

        async def create(i: int) -> str:
            async with limit:
                reply = await users.CreateUser(
                    v1.CreateUserRequest(email=f"{prefix}{i}@p9.example", display_name="P"),
                    timeout=10,
                )
                return reply.user.user_id

        return list(await asyncio.gather(*(create(i) for i in range(count))))


async def outbox_rows(postgres: Postgres, service: ServiceProcess) -> dict[str, str]:
    """aggregate id → event id, read by the admin from the service's own outbox."""
    schema = service.env["USER_SERVICE_DATABASE_SCHEMA"]
    admin = await postgres.connect()
    try:
        rows = await admin.fetch(f"SELECT id, aggregate_id FROM {schema}.outbox")
    finally:
        await admin.close()
    return {row["aggregate_id"]: str(row["id"]) for row in rows}


async def stored_ids(js: JetStreamContext) -> list[str]:
    return [
        (m.headers or {}).get("Nats-Msg-Id", "") for m in await stream_messages(js, "USER_EVENTS")
    ]


async def test_the_event_is_written_in_the_business_transaction(
    postgres: Postgres, tmp_path: Path
) -> None:
    # No relay here: the rows stay in the outbox for us to read.
    service = started(user_service(postgres, tmp_path))
    try:
        [user_id] = await create_users(service, 1, "ada")
        with pytest.raises(grpc.aio.AioRpcError) as rejected:
            await create_users(service, 1, "ada")  # same email: the insert fails, rolls back
        assert rejected.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert list(await outbox_rows(postgres, service)) == [user_id]
        # The duplicate failed before any event was written; now the event's own insert
        # fails. Only an event appended inside the business transaction takes the user
        # with it: appended after the commit, the user would exist with no event.
        schema = service.env["USER_SERVICE_DATABASE_SCHEMA"]
        await admin_execute(postgres, REFUSE_EVENTS.format(schema=schema))
        with pytest.raises(grpc.aio.AioRpcError):
            await create_users(service, 1, "grace")
        await admin_execute(postgres, f"DROP TRIGGER refuse_events ON {schema}.outbox")
        assert await users_named(postgres, schema, "grace0@p9.example") == 0
        assert list(await outbox_rows(postgres, service)) == [user_id]
    finally:
        assert service.terminate() == 0


REFUSE_EVENTS = """
CREATE OR REPLACE FUNCTION {schema}.refuse_events() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'the outbox refuses events (test)'; END $$;
CREATE TRIGGER refuse_events BEFORE INSERT ON {schema}.outbox
FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_events();
"""


async def admin_execute(postgres: Postgres, statements: str) -> None:
    admin = await postgres.connect()
    try:
        await admin.execute(statements)
    finally:
        await admin.close()


async def users_named(postgres: Postgres, schema: str, email: str) -> int:
    admin = await postgres.connect()
    try:
        count = await admin.fetchval(f"SELECT count(*) FROM {schema}.users WHERE email = $1", email)
    finally:
        await admin.close()
    return int(count)


async def test_a_notify_wakes_the_relay_and_the_event_id_is_the_message_id(
    postgres: Postgres, own_nats: Nats, js: JetStreamContext, tmp_path: Path
) -> None:
    service = started(
        user_service(postgres, tmp_path, nats_url=own_nats.url, outbox_poll_interval="120")
    )
    try:
        [first] = await create_users(service, 1, "first")
        # Published by the relay's start-up pass or a NOTIFY; after it the relay sleeps 120 s.
        await eventually(lambda: _stored_count(js, 1), message="the first event")
        [second] = await create_users(service, 1, "second")
        await eventually(lambda: _stored_count(js, 2), within=10.0, message="woken by NOTIFY")
        rows = await outbox_rows(postgres, service)
        assert await stored_ids(js) == [rows[first], rows[second]]
    finally:
        assert service.terminate() == 0


async def _stored_count(js: JetStreamContext, count: int) -> bool:
    return int((await js.stream_info(USER_EVENTS.name)).state.messages) == count


async def _stored_at_least(js: JetStreamContext, count: int) -> bool:
    return int((await js.stream_info(USER_EVENTS.name)).state.messages) >= count


async def test_nats_killed_mid_stream_loses_nothing_and_stores_nothing_twice(
    postgres: Postgres, own_nats: Nats, js: JetStreamContext, tmp_path: Path
) -> None:
    service = started(
        user_service(postgres, tmp_path, nats_url=own_nats.url, outbox_poll_interval="0.2")
    )
    try:
        before = await create_users(service, 30, "before")
        await eventually(lambda: _stored_at_least(js, 1), message="events flowing")
        own_nats.kill()
        during = await create_users(service, 30, "during")  # the writes still succeed
        own_nats.start()
        created = before + during
        await eventually(lambda: _stored_count(js, len(created)), message="all events")
        rows = await outbox_rows(postgres, service)
        assert sorted(await stored_ids(js)) == sorted(rows[user] for user in created)
    finally:
        assert service.terminate() == 0


def user_outbox(service: ServiceProcess) -> OutboxDatabase:
    return OutboxDatabase(
        service.env["USER_SERVICE_DATABASE_URL"],
        Secret(Path(service.env["USER_SERVICE_DATABASE_PASSWORD_FILE"]).read_text()),
        service.env["USER_SERVICE_DATABASE_SCHEMA"],
    )


async def test_a_relay_killed_mid_batch_loses_nothing_and_stores_nothing_twice(
    postgres: Postgres, own_nats: Nats, js: JetStreamContext, tmp_path: Path
) -> None:
    service = started(user_service(postgres, tmp_path))  # its events wait for our relay
    try:
        created = await create_users(service, 800, "batch")
        database = user_outbox(service)
        # One batch for everything, acks one at a time: slow enough to kill halfway.
        crashing = relay_process(
            database, own_nats.url, tmp_path, batch_size="5000", max_in_flight="1"
        )
        crashing.start()
        try:
            await eventually(
                lambda: _stored_at_least(js, 1), message="the batch under way", every=0.002
            )
            crashing.kill()
        finally:
            crashing.kill()
        assert not await _stored_count(js, len(created))  # killed before the batch finished

        restarted = relay_process(database, own_nats.url, tmp_path)
        restarted.start()
        try:
            await eventually(lambda: _stored_count(js, len(created)), message="all events")
        finally:
            assert restarted.terminate() == 0
        rows = await outbox_rows(postgres, service)
        assert sorted(await stored_ids(js)) == sorted(rows[user] for user in created)
    finally:
        assert service.terminate() == 0
