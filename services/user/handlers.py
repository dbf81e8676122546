"""The user context's use cases: one function each, over ports and a clock.

A change runs in a unit of work (`UserUnitOfWork`): load through its
repository, call one domain method, save, publish the domain's event, commit.
The unit makes the user row, its outbox event and, for an idempotent call,
the reply one transaction; the transport decided whether the call is
idempotent and how its reply is serialized. Nothing here knows about gRPC or SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from protomesh.errors import FieldViolation, InvalidArgument
from protomesh.idempotency.calls import IdempotentReply
from protomesh.pagination import decode_page_token, encode_page_token
from protomesh.unit_of_work import UnitOfWork
from services.user.domain import Event, User, UserNotFound

Clock = Callable[[], datetime]
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True)
class PagePosition:
    """Where a page ends, in the store's (created_at, id) order."""

    created_at: datetime
    user_id: uuid.UUID


class UserReader(Protocol):
    """Reads outside any unit of work: what a caller sees, committed."""

    async def get(self, user_id: uuid.UUID) -> User | None: ...

    async def page(
        self, *, after: PagePosition | None, limit: int, email_verified: bool | None
    ) -> list[User]:
        """Users in (created_at, id) order, strictly after `after`."""


class UserRepository(Protocol):
    """Users inside a unit of work."""

    async def get_for_update(self, user_id: uuid.UUID) -> User | None:
        """The user, locked against concurrent changes until the unit ends."""

    async def add(self, user: User) -> None:
        """Insert; raises EmailAlreadyTaken when the email key is in use."""

    async def save(self, user: User) -> None:
        """Write a changed user loaded by `get_for_update`; raises EmailAlreadyTaken."""


class UserUnitOfWork(UnitOfWork[Event, User], Protocol):
    @property
    def users(self) -> UserRepository: ...


# Builds the unit of work for one call: idempotent when the transport gives a reply.
UnitsOfWork = Callable[[IdempotentReply[User] | None], UserUnitOfWork]


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


async def register_user(command: RegisterUser, uow: UserUnitOfWork, clock: Clock) -> User:
    async with uow:
        user, registered = User.register(
            email=command.email,
            display_name=command.display_name,
            given_name=command.given_name,
            family_name=command.family_name,
            now=clock(),
        )
        await uow.users.add(user)
        uow.publish(registered)
        await uow.commit(user)
    return user


async def get_user(user_id: uuid.UUID, users: UserReader) -> User:
    user = await users.get(user_id)
    if user is None:
        raise UserNotFound(user_id)
    return user


async def list_users(query: ListUsers, users: UserReader) -> UserPage:
    limit = query.page_size or DEFAULT_PAGE_SIZE
    filter_key = f"verified={query.email_verified}"
    after = _position(query.page_token, filter_key) if query.page_token else None
    found = await users.page(after=after, limit=limit + 1, email_verified=query.email_verified)
    if len(found) <= limit:
        return UserPage(found, "")
    last = found[limit - 1]
    token = encode_page_token({"t": last.created_at.isoformat(), "id": str(last.id)}, filter_key)
    return UserPage(found[:limit], token)


async def update_user(command: UpdateUser, uow: UserUnitOfWork, clock: Clock) -> User:
    async with uow:
        user = await _locked(uow, command.user_id)
        updated, changed = user.update(
            clock(),
            email=command.email,
            display_name=command.display_name,
            given_name=command.given_name,
            family_name=command.family_name,
        )
        if changed is not None:
            await uow.users.save(updated)
            uow.publish(changed)
        await uow.commit(updated)
    return updated


async def verify_email(user_id: uuid.UUID, email: str, uow: UserUnitOfWork, clock: Clock) -> User:
    async with uow:
        user = await _locked(uow, user_id)
        verified, changed = user.verify(email, clock())
        if changed is not None:
            await uow.users.save(verified)
            uow.publish(changed)
        await uow.commit(verified)
    return verified


async def _locked(uow: UserUnitOfWork, user_id: uuid.UUID) -> User:
    user = await uow.users.get_for_update(user_id)
    if user is None:
        raise UserNotFound(user_id)
    return user


def _position(token: str, filter_key: str) -> PagePosition:
    position = decode_page_token(token, filter_key)
    try:
        return PagePosition(datetime.fromisoformat(position["t"]), uuid.UUID(position["id"]))
    except (KeyError, TypeError, ValueError):
        raise InvalidArgument(
            [FieldViolation("page_token", "not a page token issued by this API")]
        ) from None
