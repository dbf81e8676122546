"""In-memory user ports with the same contracts as the PostgreSQL reader, repository and unit."""

from __future__ import annotations

import asyncio
import uuid
from types import TracebackType
from typing import Self

from protomesh.errors import Unavailable
from protomesh.idempotency import IdempotentReply
from services.user.domain import EmailAlreadyTaken, EmailVerification, Event, User, email_key
from services.user.handlers import PagePosition
from services.user.mail import Mail
from tests.unit.runtime.fake_unit_of_work import InMemoryLedger, InMemoryUnitOfWork


class InMemoryUserRepository:
    def __init__(self, rows: dict[uuid.UUID, User]) -> None:
        self._rows = rows

    async def get_for_update(self, user_id: uuid.UUID) -> User | None:
        return self._rows.get(user_id)

    async def add(self, user: User) -> None:
        await self.save(user)

    async def save(self, user: User) -> None:
        taken = any(
            email_key(other.email) == email_key(user.email) and other.id != user.id
            for other in self._rows.values()
        )
        if taken:
            raise EmailAlreadyTaken(user.email)
        self._rows[user.id] = user


class InMemoryVerifications:
    def __init__(self, rows: dict[uuid.UUID, EmailVerification]) -> None:
        self._rows = rows

    async def get_for_update(self, user_id: uuid.UUID) -> EmailVerification | None:
        return self._rows.get(user_id)

    async def save(self, verification: EmailVerification) -> None:
        self._rows[verification.user_id] = verification


class InMemoryUserUnitOfWork(InMemoryUnitOfWork[User, Event, User]):
    """Also rolls the verification codes back when left without commit."""

    def __init__(
        self,
        verifications: dict[uuid.UUID, EmailVerification],
        *,
        rows: dict[uuid.UUID, User],
        events: list[Event],
        ledger: InMemoryLedger,
        lock: asyncio.Lock,
        reply: IdempotentReply[User] | None,
    ) -> None:
        super().__init__(rows, events, ledger, lock, reply)
        self._verifications = verifications
        self._verifications_before: dict[uuid.UUID, EmailVerification] = {}

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._verifications_before = dict(self._verifications)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self.committed:
            self._verifications.clear()
            self._verifications.update(self._verifications_before)
        await super().__aexit__(exc_type, exc, traceback)

    @property
    def users(self) -> InMemoryUserRepository:
        return InMemoryUserRepository(self.rows)

    @property
    def verifications(self) -> InMemoryVerifications:
        return InMemoryVerifications(self._verifications)


class FakeMailer:
    """Keeps what was sent; `failing` makes the next sends raise as an SMTP outage does."""

    def __init__(self) -> None:
        self.sent: list[Mail] = []
        self.failing = False

    async def send(self, mail: Mail) -> None:
        if self.failing:
            raise Unavailable("the email could not be sent; try again shortly")
        self.sent.append(mail)


class InMemoryUsers:
    """The UserReader, and the units of work writing the same users."""

    def __init__(self) -> None:
        self.users: dict[uuid.UUID, User] = {}
        self.verifications: dict[uuid.UUID, EmailVerification] = {}
        self.events: list[Event] = []
        self.ledger = InMemoryLedger()
        self._lock = asyncio.Lock()

    def unit_of_work(self, reply: IdempotentReply[User] | None = None) -> InMemoryUserUnitOfWork:
        return InMemoryUserUnitOfWork(
            self.verifications,
            rows=self.users,
            events=self.events,
            ledger=self.ledger,
            lock=self._lock,
            reply=reply,
        )

    async def get(self, user_id: uuid.UUID) -> User | None:
        return self.users.get(user_id)

    async def page(
        self, *, after: PagePosition | None, limit: int, email_verified: bool | None
    ) -> list[User]:
        ordered = sorted(self.users.values(), key=lambda u: (u.created_at, str(u.id)))
        if after is not None:
            ordered = [
                u
                for u in ordered
                if (u.created_at, str(u.id)) > (after.created_at, str(after.user_id))
            ]
        if email_verified is not None:
            ordered = [u for u in ordered if u.email_verified == email_verified]
        return ordered[:limit]
