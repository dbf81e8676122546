"""The user context's use cases: one function each, over a store and a clock.

Each loads what it needs, applies one domain rule, and saves through the
store, which makes the change atomic. Nothing here knows about gRPC or SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from protomesh.errors import FieldViolation, InvalidArgument
from protomesh.pagination import decode_page_token, encode_page_token
from services.user.domain import User, UserNotFound

Clock = Callable[[], datetime]
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True)
class PagePosition:
    """Where a page ends, in the store's (created_at, id) order."""

    created_at: datetime
    user_id: uuid.UUID


class UserStore(Protocol):
    async def add(self, user: User) -> None:
        """Insert; raises EmailAlreadyTaken when the email key is in use."""

    async def get(self, user_id: uuid.UUID) -> User | None: ...

    async def page(
        self, *, after: PagePosition | None, limit: int, email_verified: bool | None
    ) -> list[User]:
        """Users in (created_at, id) order, strictly after `after`."""

    async def change(self, user_id: uuid.UUID, apply: Callable[[User], User]) -> User:
        """Lock the user, apply the change, save it, all in one transaction.

        Raises UserNotFound, or EmailAlreadyTaken if the change takes an email in use.
        """


@dataclass(frozen=True)
class RegisterUser:
    email: str
    display_name: str = ""
    given_name: str = ""
    family_name: str = ""


@dataclass(frozen=True)
class UpdateUser:
    user_id: uuid.UUID
    email: str | None = None
    display_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None


@dataclass(frozen=True)
class ListUsers:
    page_size: int = 0
    page_token: str = ""
    email_verified: bool | None = None


@dataclass(frozen=True)
class UserPage:
    users: list[User]
    next_page_token: str


async def register_user(command: RegisterUser, store: UserStore, clock: Clock) -> User:
    user = User.register(
        email=command.email,
        display_name=command.display_name,
        given_name=command.given_name,
        family_name=command.family_name,
        now=clock(),
    )
    await store.add(user)
    return user


async def get_user(user_id: uuid.UUID, store: UserStore) -> User:
    user = await store.get(user_id)
    if user is None:
        raise UserNotFound(user_id)
    return user


async def list_users(query: ListUsers, store: UserStore) -> UserPage:
    limit = query.page_size or DEFAULT_PAGE_SIZE
    filter_key = f"verified={query.email_verified}"
    after = _position(query.page_token, filter_key) if query.page_token else None
    users = await store.page(after=after, limit=limit + 1, email_verified=query.email_verified)
    if len(users) <= limit:
        return UserPage(users, "")
    last = users[limit - 1]
    token = encode_page_token({"t": last.created_at.isoformat(), "id": str(last.id)}, filter_key)
    return UserPage(users[:limit], token)


async def update_user(command: UpdateUser, store: UserStore, clock: Clock) -> User:
    def apply(user: User) -> User:
        now = clock()
        if command.email is not None:
            user = user.change_email(command.email, now)
        if command.given_name is not None:
            user = user.rename_structured(command.given_name, command.family_name or "", now)
        elif command.display_name is not None:
            user = user.rename(command.display_name, now)
        return user

    return await store.change(command.user_id, apply)


async def verify_email(user_id: uuid.UUID, email: str, store: UserStore, clock: Clock) -> User:
    return await store.change(user_id, lambda user: user.verify_email(email, clock()))


def _position(token: str, filter_key: str) -> PagePosition:
    position = decode_page_token(token, filter_key)
    try:
        return PagePosition(datetime.fromisoformat(position["t"]), uuid.UUID(position["id"]))
    except (KeyError, TypeError, ValueError):
        raise InvalidArgument(
            [FieldViolation("page_token", "not a page token issued by this API")]
        ) from None
