from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from protomesh.errors import InvalidArgument
from services.user import handlers
from services.user.domain import EmailAlreadyTaken, UserNotFound
from tests.unit.user.fakes import InMemoryUserStore


class TickingClock:
    """Each reading is one second after the last, so creation order is total."""

    def __init__(self) -> None:
        self._ticks: Iterator[int] = iter(range(10**6))

    def __call__(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=next(self._ticks))


@pytest.fixture
def store() -> InMemoryUserStore:
    return InMemoryUserStore()


async def register(
    store: InMemoryUserStore, email: str, clock: TickingClock | None = None
) -> uuid.UUID:
    command = handlers.RegisterUser(email=email, display_name=email.split("@", maxsplit=1)[0])
    user = await handlers.register_user(command, store, clock or TickingClock())
    return user.id


async def test_errors_for_a_second_user_with_the_same_email(store: InMemoryUserStore) -> None:
    await register(store, "ada@example.com")
    with pytest.raises(EmailAlreadyTaken):
        await register(store, "ADA@example.com")


async def test_errors_for_an_unknown_user(store: InMemoryUserStore) -> None:
    with pytest.raises(UserNotFound):
        await handlers.get_user(uuid.uuid4(), store)


async def test_pages_cover_every_user_once_in_creation_order(store: InMemoryUserStore) -> None:
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


async def test_a_page_token_from_another_filter_is_rejected(store: InMemoryUserStore) -> None:
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


async def test_a_garbled_page_token_is_rejected(store: InMemoryUserStore) -> None:
    with pytest.raises(InvalidArgument):
        await handlers.list_users(handlers.ListUsers(page_token="not-a-token"), store)


async def test_updating_only_some_fields_keeps_the_others(store: InMemoryUserStore) -> None:
    user_id = await register(store, "ada@example.com")
    updated = await handlers.update_user(
        handlers.UpdateUser(user_id=user_id, display_name="Countess"), store, TickingClock()
    )
    assert (updated.email, updated.display_name) == ("ada@example.com", "Countess")


async def test_taking_another_users_email_on_update_is_refused(store: InMemoryUserStore) -> None:
    await register(store, "ada@example.com")
    grace = await register(store, "grace@example.com")
    with pytest.raises(EmailAlreadyTaken):
        await handlers.update_user(
            handlers.UpdateUser(user_id=grace, email="Ada@example.com"), store, TickingClock()
        )
