"""The user context's use cases: one function each, over ports and a clock.

A change runs in a unit of work (`UserUnitOfWork`): load through its
repository, call one domain method, save, publish the domain's event, commit.
The unit makes the user row, its outbox event and, for an idempotent call,
the reply one transaction; the transport decided whether the call is
idempotent and how its reply is serialized. Nothing here knows about gRPC or SQL.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from protomesh.errors import FieldViolation, InvalidArgument
from protomesh.idempotency.calls import IdempotentReply
from protomesh.pagination import decode_page_token, encode_page_token
from protomesh.unit_of_work import UnitOfWork
from services.user.domain import (
    CODE_LIFETIME,
    EmailChangedSinceVerification,
    EmailVerification,
    Event,
    User,
    UserNotFound,
    VerificationCodeWrong,
    email_key,
    hash_code,
    new_code,
    verify_with_code,
)
from services.user.mail import Mailer, verification_mail

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


class EmailVerificationRepository(Protocol):
    """Each user's current verification code, inside a unit of work."""

    async def get_for_update(self, user_id: uuid.UUID) -> EmailVerification | None: ...

    async def save(self, verification: EmailVerification) -> None:
        """Insert or replace the user's one verification."""


class UserUnitOfWork(UnitOfWork[Event, User], Protocol):
    @property
    def users(self) -> UserRepository: ...

    @property
    def verifications(self) -> EmailVerificationRepository: ...


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


@dataclass(frozen=True)
class VerifyEmail:
    user_id: uuid.UUID
    code: str
    email: str | None = None  # when given, must still be the user's address


async def send_email_verification(
    user_id: uuid.UUID,
    uow: UserUnitOfWork,
    clock: Clock,
    mailer: Mailer,
    code_source: Callable[[], str] = new_code,
) -> User:
    """Store a new code's hash and mail the code, in that transaction.

    The mail is handed over before the commit: a send that fails rolls the code,
    the send count and any idempotent reply back, so the user (or a retry with
    the same key) simply asks again. The opposite order could record success
    for a mail never sent. What remains is a commit failing after the hand-over:
    the user then holds a code that was never stored, which fails to verify
    until they request another; nothing stored is lost or sent twice.
    """
    code, salt = code_source(), secrets.token_bytes(16)
    code_hash = await asyncio.to_thread(hash_code, code, salt)  # scrypt: off the loop
    async with uow:
        user = await _locked(uow, user_id)
        previous = await uow.verifications.get_for_update(user_id)
        issued = EmailVerification.issue(user, previous, code_hash, salt, clock())
        await uow.verifications.save(issued)
        minutes = int(CODE_LIFETIME.total_seconds() // 60)
        await mailer.send(verification_mail(user.email, code, minutes))
        await uow.commit(user)
    return user


async def verify_email(
    command: VerifyEmail, uow: UserUnitOfWork, attempts: UserUnitOfWork, clock: Clock
) -> User:
    """Verify with the mailed code; a wrong code is counted in `attempts`.

    `uow` carries the call's idempotent reply, so a refused code must not commit
    there: the failed attempt is recorded in its own unit (`attempts`, never
    idempotent) after `uow` rolled back.
    """
    async with uow:
        user = await _locked(uow, command.user_id)
        if command.email is not None and email_key(command.email) != email_key(user.email):
            raise EmailChangedSinceVerification()
        pending = await uow.verifications.get_for_update(user.id)
        code_hash = b""
        if pending is not None:
            code_hash = await asyncio.to_thread(hash_code, command.code, pending.salt)
        try:
            verified, changed, spent = verify_with_code(user, pending, code_hash, clock())
        except VerificationCodeWrong as wrong:
            refused = wrong
        else:
            await uow.verifications.save(spent)
            if changed is not None:
                await uow.users.save(verified)
                uow.publish(changed)
            await uow.commit(verified)
            return verified
    assert pending is not None  # a wrong code implies one was pending
    await _count_failed_attempt(attempts, pending)
    raise refused


async def _count_failed_attempt(uow: UserUnitOfWork, tried: EmailVerification) -> None:
    async with uow:
        user = await _locked(uow, tried.user_id)  # the user first, as every unit locks
        current = await uow.verifications.get_for_update(tried.user_id)
        # A code sent meanwhile replaced the one tried: its attempts start afresh.
        if current is not None and current.code_hash == tried.code_hash:
            await uow.verifications.save(current.failed_attempt())
        await uow.commit(user)


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
