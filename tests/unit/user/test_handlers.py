from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from protomesh.errors import InvalidArgument
from protomesh.idempotency import AlreadyAnswered, IdempotentCall, IdempotentReply, KeyReused
from services.user import handlers
from services.user.domain import (
    EmailAlreadyTaken,
    EmailChangedSinceVerification,
    User,
    UserNotFound,
    UserProfileChanged,
    UserRegistered,
)
from tests.unit.user.fakes import InMemoryUsers


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


async def test_registering_and_each_change_publish_one_event_in_order(
    store: InMemoryUsers,
) -> None:
    clock = TickingClock()
    user_id = await register(store, "ada@example.com", clock)
    await handlers.verify_email(user_id, "ada@example.com", store.unit_of_work(), clock)
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


async def test_verifying_an_address_twice_publishes_once(store: InMemoryUsers) -> None:
    user_id = await register(store, "ada@example.com")
    for _ in range(2):
        await handlers.verify_email(
            user_id, "ada@example.com", store.unit_of_work(), TickingClock()
        )
    assert len(store.events) == 2


async def test_a_refused_change_writes_nothing(store: InMemoryUsers) -> None:
    user_id = await register(store, "ada@example.com")
    with pytest.raises(EmailChangedSinceVerification):
        await handlers.verify_email(
            user_id, "old@example.com", store.unit_of_work(keyed("v0")), TickingClock()
        )
    assert store.users[user_id].email_verified is False
    assert (len(store.events), store.ledger.replies) == (1, {})


async def test_a_keyed_repeat_is_answered_from_the_ledger_and_changes_nothing(
    store: InMemoryUsers,
) -> None:
    user_id = await register(store, "ada@example.com")
    clock = TickingClock()
    first = await handlers.verify_email(
        user_id, "ada@example.com", store.unit_of_work(keyed("v1")), clock
    )
    with pytest.raises(AlreadyAnswered) as again:
        await handlers.verify_email(
            user_id, "ada@example.com", store.unit_of_work(keyed("v1")), clock
        )
    assert again.value.response == str(first.id).encode()
    with pytest.raises(KeyReused):
        await handlers.verify_email(
            user_id, "ada@example.com", store.unit_of_work(keyed("v1", b"other")), clock
        )
    assert len(store.events) == 2
