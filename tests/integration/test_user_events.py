"""The user service publishes its facts through its outbox (UserRegistered, UserProfileChanged)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError
from shop.user.events.v1 import events_pb2
from shop.user.v2 import user_pb2 as v2
from shop.user.v2 import user_pb2_grpc as v2_grpc

from services.user.streams import USER_EVENTS
from tests.support import mesh_tls
from tests.support.mail import MailSink
from tests.support.nats import Nats
from tests.support.outbox import eventually, stream_messages
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

pytestmark = pytest.mark.integration

GRACE = v2.PersonName(given_name="Grace", family_name="Hopper")


@pytest.fixture(scope="module")
def service(
    postgres: Postgres, nats: Nats, mail_sink: MailSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    running = user_service(
        postgres,
        tmp_path_factory.mktemp("user"),
        nats_url=nats.url,
        outbox_poll_interval="0.2",
        **mail_sink.service_settings,
    )
    running.start()
    yield running
    assert running.terminate() == 0


@pytest.fixture
async def users(service: ServiceProcess) -> AsyncIterator[v2_grpc.UserServiceAsyncStub]:
    async with mesh_tls.aio_channel(service.address) as channel:
        yield v2_grpc.UserServiceStub(channel)


@pytest.fixture
async def js(nats: Nats) -> AsyncIterator[JetStreamContext]:
    client: Client = await nats.connect()
    yield client.jetstream()
    await client.close()


async def events_of(js: JetStreamContext, user_id: str) -> list[RawStreamMsg]:
    try:
        messages = await stream_messages(js, USER_EVENTS.name)
    except NotFoundError:  # the relay declares the stream on connecting; not there yet
        return []
    return [m for m in messages if (m.headers or {}).get("aggregate-id") == user_id]


async def test_registration_and_each_change_publish_one_event_in_order(
    users: v2_grpc.UserServiceAsyncStub, js: JetStreamContext, mail_sink: MailSink
) -> None:
    name = v2.PersonName(given_name="Ada", family_name="Lovelace")
    created = await users.CreateUser(
        v2.CreateUserRequest(email="ada@events.example", name=name), timeout=5
    )
    user_id = created.user.user_id
    await users.SendEmailVerification(v2.SendEmailVerificationRequest(user_id=user_id), timeout=10)
    code = mail_sink.code_for("ada@events.example")
    await users.VerifyEmail(v2.VerifyEmailRequest(user_id=user_id, code=code), timeout=5)
    new_name = v2.PersonName(given_name="Augusta", family_name="King")
    await users.UpdateUser(v2.UpdateUserRequest(user_id=user_id, name=new_name), timeout=5)

    async def three_arrived() -> bool:
        return len(await events_of(js, user_id)) == 3

    await eventually(three_arrived, message="three events for the user")
    messages = await events_of(js, user_id)
    headers = [m.headers or {} for m in messages]
    assert [h["ce-type"] for h in headers] == [
        "shop.user.events.v1.UserRegistered",
        "shop.user.events.v1.UserProfileChanged",
        "shop.user.events.v1.UserProfileChanged",
    ]
    assert [h["aggregate-sequence"] for h in headers] == ["0", "1", "2"]
    assert {m.subject for m in messages[1:]} == {"user.events.v1.UserProfileChanged"}
    registered = events_pb2.UserRegistered.FromString(messages[0].data or b"")
    assert (registered.email, registered.display_name) == ("ada@events.example", "Ada Lovelace")
    verified = events_pb2.UserProfileChanged.FromString(messages[1].data or b"")
    assert verified.email_verified
    last = events_pb2.UserProfileChanged.FromString(messages[2].data or b"")
    assert last.display_name == "Augusta King"


async def test_a_rejected_write_publishes_nothing(
    users: v2_grpc.UserServiceAsyncStub, js: JetStreamContext, service: ServiceProcess
) -> None:
    await users.CreateUser(
        v2.CreateUserRequest(email="grace@events.example", name=GRACE), timeout=5
    )
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await users.CreateUser(
            v2.CreateUserRequest(email="GRACE@events.example", name=GRACE), timeout=5
        )
    assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS

    async def registered_emails() -> list[str]:
        messages = await stream_messages(js, USER_EVENTS.name)
        return [
            events_pb2.UserRegistered.FromString(m.data or b"").email
            for m in messages
            if (m.headers or {}).get("ce-type") == "shop.user.events.v1.UserRegistered"
        ]

    async def first_arrived() -> bool:
        return "grace@events.example" in await registered_emails()

    await eventually(first_arrived, message="the accepted registration")
    emails = [email.lower() for email in await registered_emails()]
    assert emails.count("grace@events.example") == 1
