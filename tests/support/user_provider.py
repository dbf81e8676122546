"""The user service as a provider under contract: its states and event producers.

Shared by its own verification and by the mutation tests that run a broken copy of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from shop.user.v1 import user_pb2 as user_v1
from shop.user.v1 import user_pb2_grpc as user_v1_grpc

from protomesh_toolkit.contracts.consumers.live import ProviderState
from tests.support import mesh_tls
from tests.support.postgres import Postgres
from tests.support.provider_verification import EventProducer, last_outbox_event
from tests.support.service import ServiceProcess


def user_provider(
    users: ServiceProcess, postgres: Postgres
) -> tuple[Mapping[str, ProviderState], Mapping[str, EventProducer]]:
    schema = users.env["USER_SERVICE_DATABASE_SCHEMA"]

    async def create() -> str:
        async with mesh_tls.aio_channel(users.address) as channel:
            created = await user_v1_grpc.UserServiceStub(channel).CreateUser(
                user_v1.CreateUserRequest(
                    email=f"{uuid.uuid4().hex}@example.com", display_name="Contract Test"
                ),
                timeout=5,
            )
        return created.user.user_id

    async def a_user_exists() -> dict[str, str]:
        return {"user_id": await create()}

    async def registered() -> tuple[str, bytes]:
        return await last_outbox_event(postgres, schema, await create())

    async def profile_changed() -> tuple[str, bytes]:
        user_id = await create()
        async with mesh_tls.aio_channel(users.address) as channel:
            await user_v1_grpc.UserServiceStub(channel).UpdateUser(
                user_v1.UpdateUserRequest(user_id=user_id, display_name="Renamed"), timeout=5
            )
        return await last_outbox_event(postgres, schema, user_id)

    states = {"a user exists": a_user_exists}
    producers = {
        "shop.user.events.v1.UserRegistered": registered,
        "shop.user.events.v1.UserProfileChanged": profile_changed,
    }
    return states, producers
