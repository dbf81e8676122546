"""The user service as a real process over the real PostgreSQL, called over gRPC."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc
from shop.user.v2 import user_pb2 as v2
from shop.user.v2 import user_pb2_grpc as v2_grpc

from protomesh_toolkit.codegen import tool
from tests.support import mesh_tls
from tests.support.grpc_calls import field_violations
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service(
    postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    running = user_service(postgres, tmp_path_factory.mktemp("user"))
    running.start()
    yield running
    assert running.terminate() == 0


@pytest.fixture
async def channel(service: ServiceProcess) -> AsyncIterator[grpc.aio.Channel]:
    async with mesh_tls.aio_channel(service.address) as channel:
        yield channel


@pytest.fixture
def users_v1(channel: grpc.aio.Channel) -> v1_grpc.UserServiceAsyncStub:
    return v1_grpc.UserServiceStub(channel)


@pytest.fixture
def users_v2(channel: grpc.aio.Channel) -> v2_grpc.UserServiceAsyncStub:
    return v2_grpc.UserServiceStub(channel)


async def test_a_user_created_through_v1_is_read_through_both_versions(
    users_v1: v1_grpc.UserServiceAsyncStub, users_v2: v2_grpc.UserServiceAsyncStub
) -> None:
    created = await users_v1.CreateUser(
        v1.CreateUserRequest(email="ada@example.com", display_name="Ada Lovelace"), timeout=5
    )
    user_id = created.user.user_id
    got_v1 = await users_v1.GetUser(v1.GetUserRequest(user_id=user_id), timeout=5)
    got_v2 = await users_v2.GetUser(v2.GetUserRequest(user_id=user_id), timeout=5)
    assert got_v1.user == created.user
    assert got_v2.user.display_name == "Ada Lovelace"
    assert got_v2.user.email_verification == v2.EMAIL_VERIFICATION_UNVERIFIED


async def test_v2_structured_names_and_email_verification(
    users_v1: v1_grpc.UserServiceAsyncStub, users_v2: v2_grpc.UserServiceAsyncStub
) -> None:
    name = v2.PersonName(given_name="Grace", family_name="Hopper")
    created = await users_v2.CreateUser(
        v2.CreateUserRequest(email="grace@navy.mil", name=name), timeout=5
    )
    user_id = created.user.user_id
    verified = await users_v2.VerifyEmail(
        v2.VerifyEmailRequest(user_id=user_id, email="grace@navy.mil"), timeout=5
    )
    assert verified.user.email_verification == v2.EMAIL_VERIFICATION_VERIFIED
    seen_by_v1 = await users_v1.GetUser(v1.GetUserRequest(user_id=user_id), timeout=5)
    assert seen_by_v1.user.display_name == "Grace Hopper"

    moved = await users_v2.UpdateUser(
        v2.UpdateUserRequest(user_id=user_id, email="grace@yale.edu"), timeout=5
    )
    assert moved.user.email_verification == v2.EMAIL_VERIFICATION_UNVERIFIED
    assert moved.user.name == name
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await users_v2.VerifyEmail(
            v2.VerifyEmailRequest(user_id=user_id, email="grace@navy.mil"), timeout=5
        )
    assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_an_unknown_user_is_not_found(users_v1: v1_grpc.UserServiceAsyncStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await users_v1.GetUser(
            v1.GetUserRequest(user_id="00000000-0000-4000-8000-000000000000"), timeout=5
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_duplicate_email_is_already_exists_whatever_its_case(
    users_v1: v1_grpc.UserServiceAsyncStub,
) -> None:
    await users_v1.CreateUser(v1.CreateUserRequest(email="dup@example.com", display_name="A"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await users_v1.CreateUser(v1.CreateUserRequest(email="DUP@example.com", display_name="B"))
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_concurrent_registrations_of_one_email_create_one_user(
    users_v1: v1_grpc.UserServiceAsyncStub, users_v2: v2_grpc.UserServiceAsyncStub
) -> None:
    attempts = [
        users_v1.CreateUser(v1.CreateUserRequest(email="race@example.com", display_name=f"R{i}"))
        for i in range(8)
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    winners = [r for r in results if isinstance(r, v1.CreateUserResponse)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1
    assert {e.code() for e in losers} == {grpc.StatusCode.ALREADY_EXISTS}


async def test_invalid_input_lists_violations_and_writes_nothing(
    users_v1: v1_grpc.UserServiceAsyncStub, users_v2: v2_grpc.UserServiceAsyncStub
) -> None:
    before = await users_v2.ListUsers(v2.ListUsersRequest(page_size=100), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await users_v1.CreateUser(v1.CreateUserRequest(email="x" * 300, display_name=""))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(raised.value) == ["email", "display_name"]
    with pytest.raises(grpc.aio.AioRpcError) as unknown_enum:
        await users_v2.ListUsers(v2.ListUsersRequest(email_verification=7))  # type: ignore[arg-type]
    assert field_violations(unknown_enum.value) == ["email_verification"]
    after = await users_v2.ListUsers(v2.ListUsersRequest(page_size=100), timeout=5)
    assert len(after.users) == len(before.users)


async def test_pages_walk_every_user_once_and_filter_by_verification(
    users_v2: v2_grpc.UserServiceAsyncStub,
) -> None:
    for i in range(5):
        await users_v2.CreateUser(
            v2.CreateUserRequest(email=f"page{i}@example.com", name=v2.PersonName(given_name="P"))
        )
    seen: list[str] = []
    token = ""
    while True:
        page = await users_v2.ListUsers(v2.ListUsersRequest(page_size=2, page_token=token))
        seen += [u.user_id for u in page.users]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) >= 5
    verified = await users_v2.ListUsers(
        v2.ListUsersRequest(email_verification=v2.EMAIL_VERIFICATION_VERIFIED, page_size=100)
    )
    assert all(u.email_verification == v2.EMAIL_VERIFICATION_VERIFIED for u in verified.users)


def test_grpcurl_lists_and_calls_the_service(service: ServiceProcess) -> None:
    grpcurl = tool("grpcurl")
    listed = subprocess.run(
        [grpcurl, *mesh_tls.grpcurl_flags(), service.address, "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert {"shop.user.v1.UserService", "shop.user.v2.UserService"} <= set(listed.stdout.split())
    created = subprocess.run(
        [
            grpcurl,
            *mesh_tls.grpcurl_flags(),
            "-d",
            '{"email": "curl@example.com", "display_name": "Curl"}',
            service.address,
            "shop.user.v1.UserService/CreateUser",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"email": "curl@example.com"' in created.stdout


def test_restarting_keeps_data_and_applies_no_migration_twice(
    postgres: Postgres, tmp_path: Path
) -> None:
    service = user_service(postgres, tmp_path)
    service.start()
    try:
        with mesh_tls.channel(service.address) as channel:
            stub = v1_grpc.UserServiceStub(channel)
            created = stub.CreateUser(
                v1.CreateUserRequest(email="keep@example.com", display_name="K")
            )
        assert service.terminate() == 0
        service.start()
        with mesh_tls.channel(service.address) as channel:
            stub = v1_grpc.UserServiceStub(channel)
            again = stub.GetUser(v1.GetUserRequest(user_id=created.user.user_id))
        assert again.user.email == "keep@example.com"
        assert service.log().count("applied migration 001_create_users.sql") == 1
    finally:
        service.terminate()
