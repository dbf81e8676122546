from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from protomesh.errors import InvalidArgument, Unavailable
from protomesh.idempotency import AlreadyAnswered, IdempotentCall, IdempotentReply, KeyReused
from services.user import handlers
from services.user.domain import (
    MAX_CODE_ATTEMPTS,
    EmailAlreadyTaken,
    EmailChangedSinceVerification,
    User,
    UserNotFound,
    UserProfileChanged,
    UserRegistered,
    VerificationCodeBurned,
    VerificationCodeUsed,
    VerificationCodeWrong,
    hash_code,
)
from tests.unit.user.fakes import FakeMailer, InMemoryUsers


class TickingClock:
    """Each reading is one second after the last, so creation order is total."""

    def __init__(self) -> None:
        self._ticks: Iterator[int] = iter(range(10**6))

    def __call__(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=next(self._ticks))


@pytest.fixture
def store() -> InMemoryUsers:
    return InMemoryUsers()


async def register(
    store: InMemoryUsers, email: str, clock: TickingClock | None = None
) -> uuid.UUID:
    command = handlers.RegisterUser(email=email, display_name=email.split("@", maxsplit=1)[0])
    user = await handlers.register_user(command, store.unit_of_work(), clock or TickingClock())
    return user.id


def keyed(key: str, request: bytes = b"r1") -> IdempotentReply[User]:
    """A keyed call whose transport serializes a user as its id."""
    call = IdempotentCall(key, "internal", "/shop.user.v2.UserService/VerifyEmail", request)
    return IdempotentReply(call, lambda user: str(user.id).encode())


async def test_errors_for_a_second_user_with_the_same_email(store: InMemoryUsers) -> None:
    await register(store, "ada@example.com")
    with pytest.raises(EmailAlreadyTaken):
        await register(store, "ADA@example.com")


async def test_errors_for_an_unknown_user(store: InMemoryUsers) -> None:
    with pytest.raises(UserNotFound):
        await handlers.get_user(uuid.uuid4(), store)


async def test_pages_cover_every_user_once_in_creation_order(store: InMemoryUsers) -> None:
    clock = TickingClock()
    created = [await register(store, f"u{i}@example.com", clock) for i in range(7)]
    seen: list[uuid.UUID] = []
    token = ""
    while True:
        page = await handlers.list_users(handlers.ListUsers(page_size=3, page_token=token), store)
        seen += [u.id for u in page.users]
        token = page.next_page_token
        if not token:
            break
    assert seen == created


async def test_a_page_token_from_another_filter_is_rejected(store: InMemoryUsers) -> None:
    clock = TickingClock()
    for i in range(3):
        await register(store, f"u{i}@example.com", clock)
    page = await handlers.list_users(handlers.ListUsers(page_size=1), store)
    with pytest.raises(InvalidArgument) as raised:
        await handlers.list_users(
            handlers.ListUsers(page_size=1, page_token=page.next_page_token, email_verified=True),
            store,
        )
    assert raised.value.violations[0].field == "page_token"


async def test_a_garbled_page_token_is_rejected(store: InMemoryUsers) -> None:
    with pytest.raises(InvalidArgument):
        await handlers.list_users(handlers.ListUsers(page_token="not-a-token"), store)


async def test_updating_only_some_fields_keeps_the_others(store: InMemoryUsers) -> None:
    user_id = await register(store, "ada@example.com")
    updated = await handlers.update_user(
        handlers.UpdateUser(user_id=user_id, display_name="Countess"),
        store.unit_of_work(),
        TickingClock(),
    )
    assert (updated.email, updated.display_name) == ("ada@example.com", "Countess")


async def test_taking_another_users_email_on_update_is_refused(store: InMemoryUsers) -> None:
    await register(store, "ada@example.com")
    grace = await register(store, "grace@example.com")
    with pytest.raises(EmailAlreadyTaken):
        await handlers.update_user(
            handlers.UpdateUser(user_id=grace, email="Ada@example.com"),
            store.unit_of_work(),
            TickingClock(),
        )
    assert store.users[grace].email == "grace@example.com"
    assert len(store.events) == 2


async def send_code(store: InMemoryUsers, user_id: uuid.UUID, clock: TickingClock) -> str:
    """Send a verification and read the code from the mail, as its owner would."""
    mailer = FakeMailer()
    await handlers.send_email_verification(user_id, store.unit_of_work(), clock, mailer)
    (mail,) = mailer.sent
    found = re.search(r"\b(\d{6})\b", mail.body)
    assert found is not None, mail.body
    return found.group(1)


async def verify(
    store: InMemoryUsers,
    user_id: uuid.UUID,
    code: str,
    clock: TickingClock,
    reply: IdempotentReply[User] | None = None,
) -> User:
    command = handlers.VerifyEmail(user_id=user_id, code=code)
    return await handlers.verify_email(
        command, store.unit_of_work(reply), store.unit_of_work(), clock
    )


async def test_registering_and_each_change_publish_one_event_in_order(
    store: InMemoryUsers,
) -> None:
    clock = TickingClock()
    user_id = await register(store, "ada@example.com", clock)
    await verify(store, user_id, await send_code(store, user_id, clock), clock)
    await handlers.update_user(
        handlers.UpdateUser(user_id=user_id, given_name="Ada", family_name="King"),
        store.unit_of_work(),
        clock,
    )
    assert [type(e) for e in store.events] == [
        UserRegistered,
        UserProfileChanged,
        UserProfileChanged,
    ]
    assert [e.version for e in store.events] == [0, 1, 2]
    assert store.users[user_id].version == 2


async def test_the_mail_goes_to_the_address_and_only_a_hash_is_stored(
    store: InMemoryUsers,
) -> None:
    user_id = await register(store, "ada@example.com")
    mailer = FakeMailer()
    await handlers.send_email_verification(
        user_id, store.unit_of_work(), TickingClock(), mailer, lambda: "123456"
    )
    assert [m.to for m in mailer.sent] == ["ada@example.com"]
    assert "123456" in mailer.sent[0].body
    stored = store.verifications[user_id]
    assert b"123456" not in stored.code_hash + stored.salt
    assert stored.code_hash == hash_code("123456", stored.salt)


async def test_a_failed_send_stores_no_code_and_spends_no_send(store: InMemoryUsers) -> None:
    user_id = await register(store, "ada@example.com")
    mailer = FakeMailer()
    mailer.failing = True
    with pytest.raises(Unavailable):
        await handlers.send_email_verification(
            user_id, store.unit_of_work(keyed("s1")), TickingClock(), mailer
        )
    assert (store.verifications, store.ledger.replies) == ({}, {})


async def test_a_wrong_code_is_counted_though_the_call_fails_and_its_key_is_free(
    store: InMemoryUsers,
) -> None:
    clock = TickingClock()
    user_id = await register(store, "ada@example.com", clock)
    code = await send_code(store, user_id, clock)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for left in range(MAX_CODE_ATTEMPTS - 1, -1, -1):
        with pytest.raises(VerificationCodeWrong) as refused:
            await verify(store, user_id, wrong, clock, keyed(f"w{left}"))
        assert refused.value.attempts_left == left
    with pytest.raises(VerificationCodeBurned):
        await verify(store, user_id, code, clock)
    assert store.users[user_id].email_verified is False
    assert store.ledger.replies == {}
    # A new code starts afresh.
    assert (
        await verify(store, user_id, await send_code(store, user_id, clock), clock)
    ).email_verified


async def test_a_code_verifies_once(store: InMemoryUsers) -> None:
    clock = TickingClock()
    user_id = await register(store, "ada@example.com", clock)
    code = await send_code(store, user_id, clock)
    await verify(store, user_id, code, clock)
    with pytest.raises(VerificationCodeUsed):
        await verify(store, user_id, code, clock)
    assert len(store.events) == 2


async def test_naming_an_address_that_is_no_longer_the_users_writes_nothing(
    store: InMemoryUsers,
) -> None:
    clock = TickingClock()
    user_id = await register(store, "ada@example.com", clock)
    code = await send_code(store, user_id, clock)
    command = handlers.VerifyEmail(user_id=user_id, code=code, email="old@example.com")
    with pytest.raises(EmailChangedSinceVerification):
        await handlers.verify_email(
            command, store.unit_of_work(keyed("v0")), store.unit_of_work(), clock
        )
    assert store.users[user_id].email_verified is False
    assert (len(store.events), store.ledger.replies) == (1, {})


async def test_a_keyed_repeat_is_answered_from_the_ledger_and_changes_nothing(
    store: InMemoryUsers,
) -> None:
    clock = TickingClock()
    user_id = await register(store, "ada@example.com", clock)
    code = await send_code(store, user_id, clock)
    first = await verify(store, user_id, code, clock, keyed("v1"))
    with pytest.raises(AlreadyAnswered) as again:
        await verify(store, user_id, code, clock, keyed("v1"))
    assert again.value.response == str(first.id).encode()
    with pytest.raises(KeyReused):
        await verify(store, user_id, code, clock, keyed("v1", b"other"))
    assert len(store.events) == 2
