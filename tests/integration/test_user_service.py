"""The user service as a real process over the real PostgreSQL, called over gRPC."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc
from shop.user.v2 import user_pb2 as v2
from shop.user.v2 import user_pb2_grpc as v2_grpc

from protomesh_toolkit.codegen import tool
from tests.support import mesh_tls
from tests.support.grpc_calls import error_reason, field_violations, status_of
from tests.support.mail import MailSink
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service(
    postgres: Postgres, mail_sink: MailSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    running = user_service(postgres, tmp_path_factory.mktemp("user"), **mail_sink.service_settings)
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


async def mailed_code(
    users_v2: v2_grpc.UserServiceAsyncStub, mail_sink: MailSink, user_id: str, email: str
) -> str:
    sent = await users_v2.SendEmailVerification(
        v2.SendEmailVerificationRequest(user_id=user_id), timeout=10
    )
    assert (sent.email, sent.expires_in.seconds) == (email, 600)
    return mail_sink.code_for(email)


async def test_v2_structured_names_and_email_verification(
    users_v1: v1_grpc.UserServiceAsyncStub,
    users_v2: v2_grpc.UserServiceAsyncStub,
    mail_sink: MailSink,
) -> None:
    name = v2.PersonName(given_name="Grace", family_name="Hopper")
    created = await users_v2.CreateUser(
        v2.CreateUserRequest(email="grace@navy.mil", name=name), timeout=5
    )
    user_id = created.user.user_id
    code = await mailed_code(users_v2, mail_sink, user_id, "grace@navy.mil")
    verified = await users_v2.VerifyEmail(
        v2.VerifyEmailRequest(user_id=user_id, code=code), timeout=5
    )
    assert verified.user.email_verification == v2.EMAIL_VERIFICATION_VERIFIED
    seen_by_v1 = await users_v1.GetUser(v1.GetUserRequest(user_id=user_id), timeout=5)
    assert seen_by_v1.user.display_name == "Grace Hopper"

    moved = await users_v2.UpdateUser(
        v2.UpdateUserRequest(user_id=user_id, email="grace@yale.edu"), timeout=5
    )
    assert moved.user.email_verification == v2.EMAIL_VERIFICATION_UNVERIFIED
    assert moved.user.name == name
    stale_code = await mailed_code(users_v2, mail_sink, user_id, "grace@yale.edu")
    await users_v2.UpdateUser(
        v2.UpdateUserRequest(user_id=user_id, email="grace@harvard.edu"), timeout=5
    )
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await users_v2.VerifyEmail(
            v2.VerifyEmailRequest(user_id=user_id, code=stale_code), timeout=5
        )
    assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(stale.value) == "EMAIL_CHANGED_SINCE_VERIFICATION"


async def test_a_code_is_single_use_and_wrong_codes_burn_it(
    users_v2: v2_grpc.UserServiceAsyncStub,
    mail_sink: MailSink,
    postgres: Postgres,
    service: ServiceProcess,
) -> None:
    email = f"{uuid.uuid4().hex}@example.com"
    created = await users_v2.CreateUser(v2.CreateUserRequest(email=email, name=ONCE), timeout=5)
    user_id = created.user.user_id
    code = await mailed_code(users_v2, mail_sink, user_id, email)
    schema = service.env["USER_SERVICE_DATABASE_SCHEMA"]
    connection = await postgres.connect()
    try:
        stored = await connection.fetchrow(
            f"SELECT * FROM {schema}.email_verifications WHERE user_id = $1", uuid.UUID(user_id)
        )
    finally:
        await connection.close()
    assert stored is not None
    assert code.encode() not in b"".join(v for v in stored.values() if isinstance(v, bytes))
    assert code not in str(dict(stored))
    assert code not in service.log()

    wrong = f"{(int(code) + 1) % 10**6:06d}"
    reasons = []
    for _ in range(6):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await users_v2.VerifyEmail(
                v2.VerifyEmailRequest(user_id=user_id, code=wrong), timeout=5
            )
        reasons.append(error_reason(refused.value))
    assert reasons == ["VERIFICATION_CODE_WRONG"] * 5 + ["VERIFICATION_CODE_BURNED"]

    code = await mailed_code(users_v2, mail_sink, user_id, email)
    verify = v2.VerifyEmailRequest(user_id=user_id, code=code)
    verified = await users_v2.VerifyEmail(verify, timeout=5)
    assert verified.user.email_verification == v2.EMAIL_VERIFICATION_VERIFIED
    with pytest.raises(grpc.aio.AioRpcError) as used:
        await users_v2.VerifyEmail(verify, timeout=5)
    assert (used.value.code(), error_reason(used.value)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "VERIFICATION_CODE_USED",
    )


async def test_sends_past_the_hourly_budget_are_refused_with_retry_info(
    users_v2: v2_grpc.UserServiceAsyncStub, mail_sink: MailSink
) -> None:
    email = f"{uuid.uuid4().hex}@example.com"
    created = await users_v2.CreateUser(v2.CreateUserRequest(email=email, name=ONCE), timeout=5)
    send = v2.SendEmailVerificationRequest(user_id=created.user.user_id)
    for _ in range(5):
        await users_v2.SendEmailVerification(send, timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as exhausted:
        await users_v2.SendEmailVerification(send, timeout=10)
    assert exhausted.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in status_of(exhausted.value).details)
    assert 3500 < retry.retry_delay.seconds <= 3600
    assert len(mail_sink.mail_for(email)) == 5


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


ONCE = v2.PersonName(given_name="Once")


def keyed(key: str) -> tuple[tuple[str, str]]:
    return (("idempotency-key", key),)


async def effects(postgres: Postgres, service: ServiceProcess, user_id: str) -> tuple[int, int]:
    """(users with this id, outbox events about them) in the service's schema."""
    schema = service.env["USER_SERVICE_DATABASE_SCHEMA"]
    connection = await postgres.connect()
    try:
        users = await connection.fetchval(
            f"SELECT count(*) FROM {schema}.users WHERE id = $1", uuid.UUID(user_id)
        )
        events = await connection.fetchval(
            f"SELECT count(*) FROM {schema}.outbox WHERE aggregate_id = $1", user_id
        )
    finally:
        await connection.close()
    return users, events


async def test_a_keyed_create_repeated_replays_the_first_response_and_creates_nothing(
    users_v1: v1_grpc.UserServiceAsyncStub, postgres: Postgres, service: ServiceProcess
) -> None:
    key = str(uuid.uuid4())
    request = v1.CreateUserRequest(email=f"{key}@example.com", display_name="Once")
    first = await users_v1.CreateUser(request, metadata=keyed(key), timeout=5)
    again = await users_v1.CreateUser(request, metadata=keyed(key), timeout=5)
    assert again.SerializeToString() == first.SerializeToString()
    assert await effects(postgres, service, first.user.user_id) == (1, 1)
    with pytest.raises(grpc.aio.AioRpcError) as unkeyed:  # without a key: a second attempt
        await users_v1.CreateUser(request, timeout=5)
    assert unkeyed.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_a_key_spent_on_another_body_is_refused_and_changes_nothing(
    users_v2: v2_grpc.UserServiceAsyncStub, postgres: Postgres, service: ServiceProcess
) -> None:
    created = await users_v2.CreateUser(
        v2.CreateUserRequest(email=f"{uuid.uuid4().hex}@example.com", name=ONCE), timeout=5
    )
    user_id, key = created.user.user_id, str(uuid.uuid4())
    renamed = v2.UpdateUserRequest(user_id=user_id, name=v2.PersonName(given_name="Ada"))
    first = await users_v2.UpdateUser(renamed, metadata=keyed(key), timeout=5)
    assert first.user.display_name == "Ada"
    other = v2.UpdateUserRequest(user_id=user_id, name=v2.PersonName(given_name="Eve"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await users_v2.UpdateUser(other, metadata=keyed(key), timeout=5)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    failure = error_details_pb2.PreconditionFailure()
    assert any(d.Unpack(failure) for d in status_of(raised.value).details)
    assert (failure.violations[0].type, failure.violations[0].subject) == (
        "IDEMPOTENCY_KEY_REUSED",
        "idempotency-key",
    )
    now = await users_v2.GetUser(v2.GetUserRequest(user_id=user_id), timeout=5)
    assert now.user.display_name == "Ada"
    assert await effects(postgres, service, user_id) == (1, 2)


async def test_a_keyed_verification_repeated_replays_even_after_the_email_moved(
    users_v2: v2_grpc.UserServiceAsyncStub,
    mail_sink: MailSink,
    postgres: Postgres,
    service: ServiceProcess,
) -> None:
    email = f"{uuid.uuid4().hex}@example.com"
    created = await users_v2.CreateUser(v2.CreateUserRequest(email=email, name=ONCE), timeout=5)
    user_id, key = created.user.user_id, str(uuid.uuid4())
    code = await mailed_code(users_v2, mail_sink, user_id, email)
    verify = v2.VerifyEmailRequest(user_id=user_id, code=code)
    first = await users_v2.VerifyEmail(verify, metadata=keyed(key), timeout=5)
    await users_v2.UpdateUser(
        v2.UpdateUserRequest(user_id=user_id, email=f"moved-{email}"), timeout=5
    )
    again = await users_v2.VerifyEmail(verify, metadata=keyed(key), timeout=5)
    assert again == first  # not FAILED_PRECONDITION: the retry is answered, not re-run
    assert await effects(postgres, service, user_id) == (1, 3)


async def test_concurrent_keyed_creates_make_one_user_and_one_event(
    users_v1: v1_grpc.UserServiceAsyncStub, postgres: Postgres, service: ServiceProcess
) -> None:
    key = str(uuid.uuid4())
    request = v1.CreateUserRequest(email=f"{key}@example.com", display_name="Many")
    replies = await asyncio.gather(
        *(users_v1.CreateUser(request, metadata=keyed(key), timeout=10) for _ in range(10))
    )
    assert len({reply.SerializeToString() for reply in replies}) == 1
    assert await effects(postgres, service, replies[0].user.user_id) == (1, 1)


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
