"""An in-memory UserStore with the same contract as PostgresUserStore."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from services.user.domain import EmailAlreadyTaken, User, UserNotFound, email_key
from services.user.handlers import PagePosition


class InMemoryUserStore:
    def __init__(self) -> None:
        self.users: dict[uuid.UUID, User] = {}
        self._lock = asyncio.Lock()

    def _email_in_use(self, email: str, by_other_than: uuid.UUID) -> bool:
        return any(
            email_key(u.email) == email_key(email) and u.id != by_other_than
            for u in self.users.values()
        )

    async def add(self, user: User) -> None:
        async with self._lock:
            if self._email_in_use(user.email, user.id):
                raise EmailAlreadyTaken(user.email)
            self.users[user.id] = user

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

    async def change(self, user_id: uuid.UUID, apply: Callable[[User], User]) -> User:
        async with self._lock:
            user = self.users.get(user_id)
            if user is None:
                raise UserNotFound(user_id)
            changed = apply(user)
            if self._email_in_use(changed.email, user_id):
                raise EmailAlreadyTaken(changed.email)
            self.users[user_id] = changed
            return changed
