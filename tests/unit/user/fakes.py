"""In-memory user ports with the same contracts as the PostgreSQL reader, repository and unit."""

from __future__ import annotations

import asyncio
import uuid

from protomesh.idempotency import IdempotentReply
from services.user.domain import EmailAlreadyTaken, Event, User, email_key
from services.user.handlers import PagePosition
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


class InMemoryUserUnitOfWork(InMemoryUnitOfWork[User, Event, User]):
    @property
    def users(self) -> InMemoryUserRepository:
        return InMemoryUserRepository(self.rows)


class InMemoryUsers:
    """The UserReader, and the units of work writing the same users."""

    def __init__(self) -> None:
        self.users: dict[uuid.UUID, User] = {}
        self.events: list[Event] = []
        self.ledger = InMemoryLedger()
        self._lock = asyncio.Lock()

    def unit_of_work(self, reply: IdempotentReply[User] | None = None) -> InMemoryUserUnitOfWork:
        return InMemoryUserUnitOfWork(self.users, self.events, self.ledger, self._lock, reply)

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
